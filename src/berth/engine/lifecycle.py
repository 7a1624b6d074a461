"""Container lifecycle: create, start, stop, kill, restart, remove, wait, and cleanup after exit.

States follow podman: ``configured`` (in the database only), ``created`` (the runtime created it,
its monitor waits), ``running``, ``paused``, ``exited``. Exactly one party records an exit: the
monitor, through ``cleanup_container``, which also tears down what ``start`` set up (runtime state,
network, root mount) and removes ``--rm`` containers. Commands that find a container whose monitor
died reconcile it (``refresh``), so ``ps`` tells the truth after any crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

from berth.engine import cni, monitor, networks
from berth.engine.engine import ContainerPaths, Engine, cgroup_path, new_id
from berth.engine.etcfiles import etc_mounts, write_etc_files, write_hosts
from berth.engine.health import health_settings
from berth.engine.metadata import CONFIGURED, CREATED, EXITED, PAUSED, RUNNING, ContainerRecord, NetworkRecord
from berth.engine.netns import create_netns, remove_netns
from berth.engine.oci_config import ImageSettings, build_config
from berth.engine.options import (
    CreateOptions,
    RestartPolicy,
    VolumeSpec,
    check_name,
    parse_publish,
    parse_tmpfs,
    parse_volume,
)
from berth.engine.rootfs import CommandNotExecutable, CommandNotFound, find_command
from berth.engine.runtime import OCIRuntime, RuntimeFailure
from berth.engine.state import ACTIVE, refresh, restart_pending
from berth.errors import BerthError, InvalidArgument, InvalidState, NotFound
from berth.fsutil import atomic_write, locked
from berth.spec.records import replace

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterator
    from typing import Any

    from berth.engine.images import ImageRoot


#: The container locks this process holds (lock file -> nesting depth). Keyed by pid too, so a
#: monitor forked while its parent held a lock does not believe it holds it.
_held_locks: dict[tuple[int, Path], int] = {}


@contextlib.contextmanager
def container_lock(engine: Engine, cid: str) -> Iterator[None]:
    """Hold container ``cid``'s lock, which serialises its lifecycle steps across processes.

    Reentrant within one process, because the steps nest: the restart policy starts the container
    under the lock it checked the user's intent under, and ``start`` and ``refresh`` lock again.
    """
    key = (os.getpid(), engine.paths(cid).lock)
    depth = _held_locks.get(key, 0)
    with contextlib.nullcontext() if depth else locked(key[1]):
        _held_locks[key] = depth + 1
        try:
            yield
        finally:
            if depth:
                _held_locks[key] = depth
            else:
                del _held_locks[key]


def _ports(opts: CreateOptions) -> list[dict[str, Any]]:
    return [parse_publish(p).to_cni() for p in opts.publish]


def check_ports_free(engine: Engine, ports: list[dict[str, Any]], exclude: str = "") -> None:
    """Fail if a host port is published by another live container or bound by a host process."""
    for rec in engine.db.containers():
        if rec.id == exclude or rec.state not in ACTIVE:
            continue
        for other in _ports(CreateOptions.from_json(rec.config["options"])):
            for port in ports:
                if (other["hostPort"], other["protocol"]) == (port["hostPort"], port["protocol"]):
                    where = f"{port['hostPort']}/{port['protocol']}"
                    raise InvalidArgument(f"port {where} is already published by container {rec.name}")
    for port in ports:
        kind = socket.SOCK_DGRAM if port["protocol"] == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((port.get("hostIP", ""), port["hostPort"]))
            except OSError as err:
                where = f"{port['hostPort']}/{port['protocol']}"
                raise InvalidArgument(f"port {where} is already in use on the host: {err.strerror}") from None


def _volume_mounts(
    engine: Engine, opts: CreateOptions, image_volumes: list[str]
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Bind mounts for ``-v`` and for the image's ``Volumes``, the volumes still to be created, and
    the container's anonymous volumes.

    As podman does, ``-v /path`` and every image volume (config.md#properties ``Volumes``) that no
    ``-v`` or ``--tmpfs`` covers get a new volume of their own, named by a random id.
    """
    from berth.engine.volumes import volume_data_dir

    specs = [parse_volume(text) for text in opts.volumes]
    covered = {os.path.normpath(s.destination) for s in specs}
    covered |= {os.path.normpath(parse_tmpfs(t)[0]) for t in opts.tmpfs}
    for dest in dict.fromkeys(os.path.normpath(v) for v in image_volumes):
        if dest.startswith("/") and dest not in covered:
            specs.append(VolumeSpec(dest))
    mounts, missing, anonymous = [], [], []
    known = {v.name for v in engine.db.volumes()}
    for spec in specs:
        name = spec.name
        if not spec.source and not name:
            name = new_id()
            anonymous.append(name)
        if name and name not in known:
            missing.append(name)
            known.add(name)
        source = spec.source or str(volume_data_dir(engine.config, name))
        mounts.append(
            {
                "destination": spec.destination,
                "type": "bind",
                "source": source,
                "options": ["rbind", "rprivate", "ro" if spec.read_only else "rw"],
            }
        )
    return mounts, missing, anonymous


def _image_root(engine: Engine, opts: CreateOptions, cid: str) -> ImageRoot:
    from berth.engine.images import ImageRoot, image_rootfs

    if opts.rootfs:
        root = Path(opts.rootfs).absolute()
        if not root.is_dir():
            raise InvalidArgument(f"--rootfs {opts.rootfs}: not a directory")
        return ImageRoot(root, ImageSettings(), "", "")
    return image_rootfs(engine, opts.image, cid, opts.pull, opts.tls_verify)


def create_container(engine: Engine, opts: CreateOptions) -> ContainerRecord:
    """Validate ``opts`` and record a new container with its bundle; nothing runs yet."""
    if opts.name:
        check_name(opts.name)
    if bool(opts.image) == bool(opts.rootfs):
        raise InvalidArgument("give exactly one of an image or --rootfs DIR")
    if RestartPolicy.parse(opts.restart).name != "no" and opts.remove:
        raise InvalidArgument("--restart and --rm conflict: a removed container cannot be restarted")
    runtime = engine.runtime(opts.runtime)
    cid = new_id()
    name = opts.name or _generate_name(engine)
    ports = _ports(opts)
    network = networks.resolve_network(engine.config, engine.db, opts.network)
    if ports and network is None:
        raise InvalidArgument("-p needs a bridge network (not --network none or host)")
    if ports:
        check_ports_free(engine, ports)
    for text in opts.volumes:
        parse_volume(text)  # bad input fails before the image is unpacked
    paths = engine.paths(cid)
    made = _image_root(engine, opts, cid)
    rootfs, image = made.rootfs, made.settings
    try:
        volume_mounts, missing_volumes, anonymous = _volume_mounts(engine, opts, image.volumes)
        netns = None if opts.network == networks.HOST else (str(paths.netns) if network else "")
        mounts = [*volume_mounts, *etc_mounts(paths.userdata)]
        config = build_config(
            opts, image, rootfs, cid, mounts, netns, cgroup_path(engine.config.cgroup_parent, cid)
        )
        record = ContainerRecord(
            id=cid,
            name=name,
            image=opts.image or opts.rootfs,
            runtime=runtime.name,
            config={
                "options": opts.to_json(),
                "rootfs": str(rootfs),
                "stop_signal": opts.stop_signal or image.stop_signal or "SIGTERM",
                "network": network.name if network else (opts.network or networks.NONE),
                "hostname": config["hostname"],
                "args": config["process"]["args"],
                "env": config["process"]["env"],
                "cwd": config["process"]["cwd"],
                "anonymous_volumes": anonymous,
                "image_healthcheck": image.healthcheck,
            },
            mounts=mounts,
            image_id=made.image_id,
            image_digest=made.manifest_digest,
        )
        engine.db.add_container(record)
    except BaseException:
        _release_image(engine, opts, cid)
        raise
    try:
        from berth.engine.volumes import copy_up, create_volume, volume_data_dir

        for vol in missing_volumes:
            with contextlib.suppress(BerthError):
                create_volume(engine, vol)
        new = {str(volume_data_dir(engine.config, vol)) for vol in missing_volumes}
        for mount in volume_mounts:
            if mount["source"] in new:  # a new volume starts with what the image has there
                copy_up(rootfs, mount["destination"], Path(mount["source"]))
        paths.userdata.mkdir(parents=True, exist_ok=True)
        _write_config(paths, config)
    except BaseException:
        _remove_files(engine, record)
        engine.db.remove_container(cid)
        _remove_anonymous_volumes(engine, record)
        raise
    return record


def _write_config(paths: ContainerPaths, config: dict[str, Any]) -> None:
    """Write the bundle's ``config.json``: compact (an indented dump takes json's pure-Python
    encoder, ~1 ms for this document), and without waiting for the disk, as podman writes it (a
    container does not outlive a reboot whole: its overlay root is not mounted again)."""
    atomic_write(paths.config_json, json.dumps(config, separators=(",", ":")).encode(), durable=False)


_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fond",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "proud",
    "quiet",
    "swift",
    "witty",
]
_NOUNS = [
    "anchor",
    "buoy",
    "cargo",
    "dock",
    "ferry",
    "harbor",
    "keel",
    "mast",
    "pier",
    "quay",
    "rudder",
    "sail",
    "tide",
    "wharf",
    "yacht",
]


def _generate_name(engine: Engine) -> str:
    taken = {c.name for c in engine.db.containers()}
    while True:
        pick = os.urandom(4)
        name = f"{_ADJECTIVES[pick[0] % len(_ADJECTIVES)]}_{_NOUNS[pick[1] % len(_NOUNS)]}_{pick[2:].hex()}"
        if name not in taken:
            return name


def _release_image(engine: Engine, opts: CreateOptions, cid: str) -> None:
    if opts.image:
        from berth.engine.images import release_rootfs

        release_rootfs(engine, cid)


def _prepare_network(engine: Engine, record: ContainerRecord) -> NetworkRecord | None:
    """Check the ports, record the attachment and pin the namespace; CNI runs in ``_attach_network``."""
    name = record.config["network"]
    if name in (networks.NONE, networks.HOST):
        return None
    net = engine.db.network(name)
    ports = _ports(CreateOptions.from_json(record.config["options"]))
    if ports:
        check_ports_free(engine, ports, exclude=record.id)
    # Recorded before CNI runs, so a command killed midway leaves enough for cleanup to undo it
    # (the plugins' DEL finds what to remove by container id and namespace, without the result).
    record.networks = {name: {"result": {}, "ports": ports}}
    engine.db.update_container(record.id, networks=record.networks)
    create_netns(engine.paths(record.id).netns)
    return net


def _attach_network(engine: Engine, record: ContainerRecord, net: NetworkRecord | None) -> None:
    """CNI ADD into the pinned namespace; record the result and write the container's /etc/hosts."""
    if net is None:
        return
    ports = record.networks[net.name]["ports"]
    result = networks.attach(engine.config, net, record.id, engine.paths(record.id).netns, ports)
    record.networks = {net.name: {"result": result, "ports": ports}}
    engine.db.update_container(record.id, networks=record.networks)
    _write_etc(engine, record, cni.result_addresses(result))
    _refresh_peer_hosts(engine, net.name)


def _refresh_peer_hosts(engine: Engine, network: str) -> None:
    """Rewrite ``/etc/hosts`` of every container on the user network ``network`` so that each lists
    the others by name. The default network resolves no names, as Docker's default bridge."""
    if network == engine.config.default_network:
        return
    lock = engine.config.runroot / "network-hosts" / f"{network}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock):  # one writer at a time, or a stale list could overwrite a fresher one
        members = [
            (rec, cni.result_addresses(rec.networks[network]["result"]))
            for rec in engine.db.containers()
            if network in rec.networks and rec.networks[network]["result"]
        ]
        for rec, addresses in members:
            peers = [
                (peer_addresses[0].split("/")[0], peer.name)
                for peer, peer_addresses in members
                if peer.id != rec.id and peer_addresses
            ]
            with contextlib.suppress(OSError):  # a member being removed meanwhile
                write_hosts(
                    engine.paths(rec.id).userdata, rec.config["hostname"], rec.name, addresses, False, peers
                )


def rename_container(engine: Engine, ref: str, name: str) -> ContainerRecord:
    """Rename a container (running or not, as podman allows); the ``/etc/hosts`` files that name
    it, its own and its user networks' members', follow."""
    check_name(name)
    record = engine.db.container(ref)
    with container_lock(engine, record.id):
        engine.db.rename_container(record.id, name)
        record = engine.db.container(record.id)
        addresses = [a for n in record.networks.values() for a in cni.result_addresses(n.get("result", {}))]
        if record.state in ACTIVE:
            _write_etc(engine, record, addresses)
        for network in record.networks:
            _refresh_peer_hosts(engine, network)
    return record


def _teardown_network(engine: Engine, record: ContainerRecord) -> None:
    paths = engine.paths(record.id)
    for name, attachment in record.networks.items():
        try:
            net = engine.db.network(name)
        except NotFound:
            continue
        with contextlib.suppress(BerthError):
            networks.detach(
                engine.config, net, record.id, paths.netns, attachment["result"], attachment["ports"]
            )
    remove_netns(paths.netns)


def start_container(engine: Engine, ref: str, attach: bool = False) -> socket.socket | None:
    """Start a configured or exited container under a new monitor.

    With ``attach``, returns the connected attach socket (connected before the process runs, so no
    output is missed); the caller pumps it (``berth.engine.attach``).
    """
    record = engine.db.container(ref)
    paths = engine.paths(record.id)
    with container_lock(engine, record.id):
        record = refresh(engine, engine.db.container(record.id))
        if record.state in ACTIVE:
            raise InvalidState(f"container {record.name} is already {record.state}")
        opts = CreateOptions.from_json(record.config["options"])
        runtime = engine.runtime(record.runtime)
        if opts.image and not Path(record.config["rootfs"]).is_mount():
            raise BerthError(f"the root filesystem of container {record.name} is not mounted; recreate it")
        find_command(
            Path(record.config["rootfs"]),
            record.config["args"][0],
            record.config["env"],
            record.config["cwd"],
        )
        paths.rundir.mkdir(parents=True, exist_ok=True)
        for stale in (paths.exit_file, paths.attach_socket):
            stale.unlink(missing_ok=True)
        if record.networks or paths.netns.exists():
            _teardown_network(engine, record)  # left by a command killed midway
        network = _prepare_network(engine, record)
        # Written now for the runtime to bind-mount; rewritten in place once CNI gave the addresses.
        _write_etc(engine, record, [])
        engine.db.update_container(
            record.id, error="", exit_code=None, oom_killed=False, stopped_by_user=False
        )
        (paths.userdata / "health.json").unlink(missing_ok=True)  # a new run starts "starting" again
        health = health_settings(record)
        config = engine.config
        # With no network to configure between the runtime's create and start (runtime.md#start),
        # one ``run --detach`` does both: a runtime process fewer on every start.
        fused = network is None
        runtime_argv = runtime.run_detached_argv if fused else runtime.create_argv
        spec = monitor.MonitorSpec(
            cid=record.id,
            bundle=paths.bundle,
            rundir=paths.rundir,
            attach_socket=paths.attach_socket,
            exit_file=paths.exit_file,
            log_path=paths.log,
            create_argv=lambda pid_file, console, log: runtime_argv(
                record.id, paths.bundle, pid_file, console, log
            ),
            terminal=opts.tty,
            stdin=opts.interactive,
            on_exit=lambda code: _monitor_exit(config, record.id, code),
            restart=lambda due: _monitor_restart(config, record.id, due),
            log_size_max=opts.log_size_max,
            health_check=_health_starter(config, record.id) if health is not None else None,
            health_interval=health.interval if health is not None else 0.0,
        )
        engine.close()  # the monitor is forked from this process: it must not share the connection
        pending = monitor.spawn(spec, attach=attach and fused)
        _ = engine.db  # reconnect while the runtime works, rather than after it
        # CNI configures the namespace while the runtime creates the container; both must be done
        # before the process starts (runtime.md#start).
        network_error: BaseException | None = None
        try:
            _attach_network(engine, record, network)
        except BaseException as err:
            network_error = err
        try:
            monitor_pid, pid = pending.wait()
        except monitor.CreateFailure as err:
            if pending.attach_socket is not None:
                pending.attach_socket.close()
            if fused:  # a start that failed may leave the runtime's state of the container behind
                _delete_quietly(runtime, record.id)
            _teardown_network(engine, record)
            engine.db.update_container(record.id, networks={}, error=str(err))
            if network_error is not None:
                raise network_error from None
            raise _invocation_error(err) from None
        if fused:
            engine.db.update_container(
                record.id, state=RUNNING, pid=pid, monitor_pid=monitor_pid, started_at=time.time()
            )
            return pending.attach_socket
        engine.db.update_container(record.id, state=CREATED, pid=pid, monitor_pid=monitor_pid)
        if network_error is not None:
            # The monitor undoes the network when the killed container exits.
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, "KILL")
            raise network_error
        sock = monitor.attach_client(paths.attach_socket) if attach else None
        try:
            runtime.start(record.id)
        except RuntimeFailure:
            if sock is not None:
                sock.close()
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, "KILL")
            raise
        engine.db.update_container(record.id, only_if_state=CREATED, state=RUNNING, started_at=time.time())
        return sock


def _health_starter(config: Any, cid: str) -> Callable[[], subprocess.Popen[bytes]]:
    """What the monitor calls to start one health check: ``berth healthcheck run`` in the
    background, as podman's systemd timer runs ``podman healthcheck run``."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "berth.cli.main", "--root", str(config.root), "--runroot",
            str(config.runroot), "healthcheck", "run", cid]  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        null = subprocess.DEVNULL
        return subprocess.Popen(argv, stdin=null, stdout=null, stderr=null, start_new_session=True)

    return start


def _write_etc(engine: Engine, record: ContainerRecord, addresses: list[str]) -> None:
    write_etc_files(
        engine.paths(record.id).userdata,
        record.config["hostname"],
        record.name,
        addresses,
        record.config["network"] == networks.HOST,
    )


def _invocation_error(err: BerthError) -> BerthError:
    message = str(err)
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return CommandNotFound(message)
    return CommandNotExecutable(message)


# A user's stop wins over the restart policy. The policy runs in the monitor of the run that
# ended; stop, kill (with a signal that ends the container) and rm run in the user's command. The
# protocol between them:
#
# 1. The user's command records its intent (``stopped_by_user``) under the container's lock before
#    it does anything else, and reads the container's state in the same locked section.
# 2. The monitor records the exit and decides on a restart in one locked section. If it will
#    restart, it marks the record (``monitor_pid`` is its own pid while the state is ``exited``:
#    ``restart_pending``) and keeps serving its socket through the backoff.
# 3. When the backoff is over, or a client connects to its socket, the monitor checks again under
#    the lock (the container still exists, no user stopped or started it, the policy still wants
#    it) and starts the container without letting go of the lock in between; otherwise it gives
#    up, clears the mark and its run directory, and ends.
# 4. After its locked section, the user's command therefore sees one of two things. The container
#    is active: a run that began before the intent was recorded, which it signals; that run's
#    monitor finds the intent when the run ends and starts nothing. Or it is not: then no restart
#    can begin any more, and a monitor still waiting out a backoff is woken by connecting to its
#    socket, finds the intent and ends. Either way the command waits for that monitor to end (its
#    socket closes) before it returns, so nothing of the container runs afterwards.


def _monitor_exit(config: Any, cid: str, code: int) -> float | None:
    """Runs in the monitor once the container's init exited: record the exit, tear down, and
    decide on a restart; the seconds to wait before it, or None."""
    with Engine(config) as engine, container_lock(engine, cid):
        cleanup_container(engine, cid, code, keep_socket=True)
        record = _current(engine, cid)
        delay = _restart_delay(record)  # cleanup_container marked the record if it is not None
        if delay is None:
            _end_restart_wait(engine, cid, record)
        return delay


def _monitor_restart(config: Any, cid: str, due: bool) -> bool:
    """Runs in the monitor during the restart backoff, when it is over (``due``) or a client woke
    it: start the container if the policy still wants it and it is time; whether to wait on."""
    with Engine(config) as engine, container_lock(engine, cid):
        record = _current(engine, cid)
        if record is not None and record.monitor_pid != os.getpid():
            return False  # a user's start took the container over meanwhile
        if _restart_delay(record) is None:
            _end_restart_wait(engine, cid, record)
            return False
        if not due or record is None:
            return True
        engine.db.update_container(cid, restart_count=record.restart_count + 1)
        try:
            start_container(engine, cid)
        except BerthError:
            # start_container recorded the error; the policy tries no more
            _end_restart_wait(engine, cid, _current(engine, cid))
        return False


def _current(engine: Engine, cid: str) -> ContainerRecord | None:
    try:
        return engine.db.container(cid)
    except NotFound:
        return None


def _end_restart_wait(engine: Engine, cid: str, record: ContainerRecord | None) -> None:
    """The monitor will not restart the container: clear its mark and the run directory, unless a
    user's start has taken both over. Called under the container's lock."""
    if record is not None:
        if record.state in ACTIVE:
            return
        engine.db.update_container(cid, monitor_pid=0)
    shutil.rmtree(engine.paths(cid).rundir, ignore_errors=True)


#: Docker's restart backoff: 100 ms, doubling per restart up to a minute, from zero again after a
#: run of ten seconds or more (so a container that fails at once cannot spin the machine).
_BACKOFF_FIRST_S, _BACKOFF_MAX_S, _BACKOFF_RESET_S = 0.1, 60.0, 10.0


def _restart_delay(record: ContainerRecord | None) -> float | None:
    """How long the restart policy waits before it starts the exited container again; None: it
    does not (the container is gone, active, stopped by a user, or the policy is done)."""
    if record is None or record.state in ACTIVE or record.stopped_by_user or record.exit_code is None:
        return None
    policy = RestartPolicy.parse(CreateOptions.from_json(record.config["options"]).restart)
    if not policy.wants_restart(record.exit_code, record.restart_count):
        return None
    ran = (record.finished_at or 0.0) - (record.started_at or 0.0)
    if ran >= _BACKOFF_RESET_S:
        return 0.0
    return min(_BACKOFF_FIRST_S * (1 << min(record.restart_count, 16)), _BACKOFF_MAX_S)


def _oom_killed(engine: Engine, cid: str) -> bool:
    """Whether the kernel's OOM killer killed a process of the container's memory cgroup."""
    path = cgroup_path(engine.config.cgroup_parent, cid).lstrip("/")
    for candidate in (
        Path("/sys/fs/cgroup/memory", path, "memory.oom_control"),
        Path("/sys/fs/cgroup", path, "memory.events"),
    ):
        try:
            text = candidate.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
    return False


def _delete_quietly(runtime: OCIRuntime, cid: str) -> None:
    with contextlib.suppress(BerthError):
        runtime.delete(cid, force=True)


def cleanup_container(engine: Engine, cid: str, exit_code: int | None, keep_socket: bool = False) -> None:
    """Record the exit and undo ``start``'s setup; remove the container if it was run with ``--rm``.
    With ``keep_socket`` (the monitor's own call) the monitor's socket stays: it serves it on
    through a restart backoff.

    Safe to run more than once and on a half-started container (every step checks what exists).
    """
    paths = engine.paths(cid)
    with container_lock(engine, cid):
        try:
            record = engine.db.container(cid)
        except NotFound:
            return
        oom = _oom_killed(engine, cid)
        opts = CreateOptions.from_json(record.config["options"])
        removing = opts.remove and exit_code is not None
        # The runtime's delete, CNI's DEL and, for a container being removed, removing its files
        # and root are independent (the runtime keeps its own state, the config included, and
        # touches neither on delete): run them side by side.
        runtime = engine.runtime(record.runtime)
        deleter = threading.Thread(target=_delete_quietly, args=(runtime, cid))
        deleter.start()
        try:
            _teardown_network(engine, record)
            if removing:
                _remove_files(engine, record)
        finally:
            deleter.join()
        if removing:
            engine.db.remove_container(cid)
            for network in record.networks:
                _refresh_peer_hosts(engine, network)  # the others no longer list this one
            _remove_anonymous_volumes(engine, record)
            return
        _clear_rundir(paths, keep=paths.attach_socket if keep_socket else None)
        state = EXITED if record.state != CONFIGURED or exit_code is not None else CONFIGURED
        code = exit_code if exit_code is not None else record.exit_code
        finished = time.time() if exit_code is not None else record.finished_at
        # The monitor whose restart policy will start the container again marks the record as its
        # own in this same update, so no reader ever sees an exit with no restart pending between.
        ended = replace(record, state=state, exit_code=code, finished_at=finished)
        restarting = keep_socket and _restart_delay(ended) is not None
        engine.db.update_container(
            cid,
            state=state,
            exit_code=code,
            oom_killed=oom,
            finished_at=finished,
            pid=0,
            monitor_pid=os.getpid() if restarting else 0,
            networks={},
        )
        for network in record.networks:
            _refresh_peer_hosts(engine, network)  # the others no longer list this one


def _clear_rundir(paths: ContainerPaths, keep: Path | None) -> None:
    """Remove the run directory, or everything in it but ``keep``."""
    if keep is None:
        shutil.rmtree(paths.rundir, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError), os.scandir(paths.rundir) as entries:
        for entry in entries:
            if entry.path == str(keep):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _signal_name(sig: str) -> str:
    text = sig.upper()
    if text.isdigit():
        return text
    text = text if text.startswith("SIG") else f"SIG{text}"
    if not hasattr(signal.Signals, text):
        raise InvalidArgument(f"invalid signal {sig!r}")
    return text[3:]


#: Signals (by name or number) a user sends to end a container rather than to make it reload.
_ENDING_SIGNALS = frozenset({"KILL", "9", "TERM", "15", "INT", "2", "QUIT", "3"})


def kill_container(engine: Engine, ref: str, sig: str = "KILL") -> ContainerRecord:
    """Send ``sig`` to the container's init (must be running). A signal that ends it (KILL, TERM,
    INT, QUIT or its stop signal) counts as a user's stop, which its restart policy respects; one
    sent to make it reload (HUP, USR1...) does not. An ending signal also ends a container waiting
    out a restart backoff (as Docker's kill does). After SIGKILL it returns once the exit is recorded."""
    name = _signal_name(sig)
    record = refresh(engine, engine.db.container(ref))
    ends = name in _ENDING_SIGNALS or name == _signal_name(record.config.get("stop_signal") or "TERM")
    runtime = engine.runtime(record.runtime)
    # Under the lock every restart takes (the protocol above), so a restart cannot slip in between.
    with container_lock(engine, record.id):
        record = engine.db.container(record.id)
        restarting = restart_pending(record)
        if record.state not in ACTIVE and not (ends and restarting):
            raise InvalidState(f"container {record.name} is not running (state {record.state})")
        if ends:
            engine.db.update_container(record.id, stopped_by_user=True)
        if record.state in ACTIVE:
            try:
                runtime.kill(record.id, name)
            except RuntimeFailure:
                if not ends or _runs(runtime, record.id):
                    raise  # an ending signal that found the container just ended did its job
    if restarting or (name in ("KILL", "9") and record.state != PAUSED):  # a frozen init dies on thaw
        engine.close()
        _wait_socket(engine, record, None)
    return record


def _runs(runtime: OCIRuntime, cid: str) -> bool:
    state = runtime.state(cid)
    return state is not None and state.get("status") != "stopped"


def attach_container(engine: Engine, ref: str) -> tuple[socket.socket, CreateOptions]:
    """Connect to the running container's monitor as an attach client (podman attach): output from
    now on, stdin if the container keeps it open, and the exit code at the end. Also returns the
    container's options (whether it has a terminal, and stdin)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    try:
        sock = monitor.attach_client(engine.paths(record.id).attach_socket)
    except OSError as err:
        raise InvalidState(f"container {record.name}: its monitor does not answer ({err.strerror})") from None
    return sock, CreateOptions.from_json(record.config["options"])


def _wait_runtime(engine: Engine, record: ContainerRecord, timeout: float | None) -> bool:
    """Without a monitor, poll the runtime's state until the container stopped; ``False`` on timeout."""
    runtime = engine.runtime(record.runtime)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = runtime.state(record.id)
        if state is None or state.get("status") == "stopped":
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _wait_socket(engine: Engine, record: ContainerRecord, timeout: float | None) -> bool:
    """Wait for the monitor to finish (or, if it is gone, the container); ``False`` on timeout."""
    path = engine.paths(record.id).attach_socket
    try:
        sock = monitor.attach_client(path, "wait")
    except OSError:
        # No monitor answers: the container's, if it ran, died (the runtime tells whether the
        # container still runs); one waiting out a restart backoff has ended.
        return _wait_runtime(engine, record, timeout) if record.state in ACTIVE else True
    with sock:
        sock.settimeout(timeout)
        try:
            while sock.recv(64):
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
    return True


def stop_container(engine: Engine, ref: str, timeout: float | None = None) -> ContainerRecord:
    """Send the stop signal, wait ``timeout`` seconds (default: the container's), then SIGKILL. The
    restart policy leaves a stopped container stopped, whenever the stop arrives (the protocol
    above): a restart in flight is stopped once it has started, one waiting out a backoff is called
    off. Returns once the container's monitor has ended."""
    record = _record_user_stop(engine, refresh(engine, engine.db.container(ref)).id)
    opts = CreateOptions.from_json(record.config["options"])
    grace = opts.stop_timeout if timeout is None else timeout
    runtime = engine.runtime(record.runtime)
    engine.close()
    if record.state in ACTIVE:
        # A created container has run nothing yet, so there is nothing to stop gracefully.
        stopped = False
        if grace > 0 and record.state != CREATED:
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, _signal_name(record.config["stop_signal"]))
            stopped = _wait_socket(engine, record, grace)
        if not stopped:
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, "KILL")
            _wait_socket(engine, record, None)
    elif restart_pending(record):
        _wait_socket(engine, record, None)
    current = _current(engine, record.id)
    return record if current is None else refresh(engine, current)


def _record_user_stop(engine: Engine, cid: str, refuse_active: bool = False) -> ContainerRecord:
    """Record a user's stop under the container's lock, before anything else (the protocol above);
    the container as it is then. With ``refuse_active``, an active container is refused instead."""
    with container_lock(engine, cid):
        record = engine.db.container(cid)
        if refuse_active and record.state in ACTIVE:
            raise InvalidState(f"container {record.name} is {record.state}: stop it first or use --force")
        engine.db.update_container(cid, stopped_by_user=True)
    return record


def wait_container(engine: Engine, ref: str) -> int:
    """Block until the container exits; its exit code (-1 if it never ran)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state in ACTIVE:
        engine.close()
        _wait_socket(engine, record, None)
        if _current(engine, record.id) is None:
            return -1
        record = refresh(engine, engine.db.container(record.id))
    return record.exit_code if record.exit_code is not None else -1


def restart_container(engine: Engine, ref: str, timeout: float | None = None) -> None:
    """Stop (if running), then start."""
    record = stop_container(engine, ref, timeout)
    start_container(engine, record.id)


def _remove_files(engine: Engine, record: ContainerRecord) -> None:
    paths = engine.paths(record.id)
    shutil.rmtree(paths.userdata, ignore_errors=True)
    shutil.rmtree(paths.rundir, ignore_errors=True)
    paths.lock.unlink(missing_ok=True)
    _release_image(engine, CreateOptions.from_json(record.config["options"]), record.id)


def _remove_anonymous_volumes(engine: Engine, record: ContainerRecord) -> None:
    """Remove the volumes made for ``record`` alone (``-v /path``, image volumes) that no other
    container mounts (podman's ``rm -v`` and ``run --rm``)."""
    from berth.engine.volumes import remove_volume, volume_users

    for name in record.config.get("anonymous_volumes", []):
        with contextlib.suppress(NotFound):
            if not volume_users(engine, name):
                remove_volume(engine, name)


def remove_container(engine: Engine, ref: str, force: bool = False, volumes: bool = False) -> ContainerRecord:
    """Remove a container that is not running (``force``: stop it at once first); with ``volumes``,
    also its anonymous volumes. A container waiting out a restart backoff is removed, not restarted."""
    cid = refresh(engine, engine.db.container(ref)).id
    if force:
        record = stop_container(engine, cid, 0)
    else:
        record = _record_user_stop(engine, cid, refuse_active=True)
        if restart_pending(record):
            engine.close()
            _wait_socket(engine, record, None)  # the monitor finds the user's stop and ends
    with container_lock(engine, cid):
        current = _current(engine, cid)
        if current is None:
            return record  # removed meanwhile (``--rm``, another ``rm``)
        if current.state in ACTIVE:  # a user's start came in between
            raise InvalidState(f"container {current.name} is {current.state}: stop it first or use --force")
        cleanup_container(engine, cid, None)
        _remove_files(engine, current)
        engine.db.remove_container(cid)
    if volumes:
        _remove_anonymous_volumes(engine, current)
    return current


def pause_container(engine: Engine, ref: str) -> ContainerRecord:
    """Freeze every process of a running container (the runtime's pause, via the freezer cgroup)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state != RUNNING:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    engine.runtime(record.runtime).pause(record.id)
    engine.db.update_container(record.id, only_if_state=RUNNING, state=PAUSED)
    return record


def unpause_container(engine: Engine, ref: str) -> ContainerRecord:
    """Thaw a paused container."""
    record = refresh(engine, engine.db.container(ref))
    if record.state != PAUSED:
        raise InvalidState(f"container {record.name} is not paused (state {record.state})")
    engine.runtime(record.runtime).resume(record.id)
    engine.db.update_container(record.id, only_if_state=PAUSED, state=RUNNING)
    return record


def check_container_network(engine: Engine, ref: str) -> list[str]:
    """CNI CHECK of every network the running container ``ref`` is attached to; their names.

    Raises the plugin's error (``CNIError``) if an interface, address, route or rule that ADD made
    is missing or changed.
    """
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    netns = engine.paths(record.id).netns
    for name, attachment in record.networks.items():
        net = engine.db.network(name)
        networks.check(engine.config, net, record.id, netns, attachment["result"], attachment["ports"])
    return list(record.networks)


def update_container(engine: Engine, ref: str, memory: str = "", cpus: str = "", pids_limit: int = 0) -> None:
    """Change a running container's memory, CPU and pids limits (runtime ``update``).

    The new limits are also kept in the container's record and ``config.json``, so they hold
    after a restart.
    """
    from berth.engine.oci_config import resources

    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    opts = CreateOptions.from_json(record.config["options"])
    opts.memory = memory or opts.memory
    opts.cpus = cpus or opts.cpus
    opts.pids_limit = pids_limit or opts.pids_limit
    wanted = resources(opts)
    paths = engine.paths(record.id)
    update_file = paths.rundir / f"update-{new_id()[:16]}.json"
    update_file.write_text(json.dumps({k: v for k, v in wanted.items() if k != "devices"}))
    try:
        engine.runtime(record.runtime).update(record.id, update_file)
    finally:
        update_file.unlink(missing_ok=True)
    config = json.loads(paths.config_json.read_text())
    config["linux"]["resources"] = wanted
    _write_config(paths, config)
    engine.db.update_container(record.id, config={**record.config, "options": opts.to_json()})
