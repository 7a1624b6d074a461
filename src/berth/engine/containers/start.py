"""``start``: run a configured or exited container under a new monitor.

States follow podman: ``configured`` (in the database only), ``created`` (the runtime created it,
its monitor waits), ``running``, ``paused``, ``exited``. The monitor records the exit
(``cleanup``) and applies the restart policy (``restart``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from berth.engine.containers import monitor
from berth.engine.containers.cleanup import RuntimeDeletion, delete_quietly
from berth.engine.containers.health import health_settings
from berth.engine.containers.lock import container_lock
from berth.engine.containers.network_setup import (
    attach_network,
    has_pinned_netns,
    prepare_network,
    teardown_network,
    write_etc,
)
from berth.engine.containers.restart import monitor_exit, monitor_restart
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine, container_cgroup_path
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE, CREATED, RUNNING, ContainerRecord
from berth.engine.options import CreateOptions
from berth.engine.rootfs import CommandNotExecutable, CommandNotFound, find_command
from berth.engine.runtime import OCIRuntime, RuntimeFailure
from berth.errors import BerthError, InvalidState

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from typing import Any


def start_container(engine: Engine, ref: str, attach: bool = False) -> socket.socket | None:
    """Start a configured or exited container under a new monitor.

    With ``attach``, returns the connected attach socket (connected before the process runs, so no
    output is missed); the caller pumps it (``berth.engine.containers.attach``).
    """
    record = engine.db.container(ref)
    paths = engine.paths(record.id)
    with container_lock(engine, record.id):
        record = refresh(engine, engine.db.container(record.id))
        if record.state in ACTIVE:
            raise InvalidState(f"container {record.name} is already {record.state}")
        opts = CreateOptions.from_json(record.config["options"])
        runtime = engine.runtime(record.runtime)
        if record.pod:
            from berth.engine.containers.pod_member import prepare_start

            prepare_start(engine, record, start_container)
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
            teardown_network(engine, record)  # left by a command killed midway
        network = prepare_network(engine, record)
        # Written now for the runtime to bind-mount; rewritten in place once CNI gave the addresses.
        write_etc(engine, record, [])
        if record.error or record.exit_code is not None or record.oom_killed or record.stopped_by_user:
            # a run before this one left them (a new container has none: no write to make)
            engine.db.update_container(
                record.id, error="", exit_code=None, oom_killed=False, stopped_by_user=False
            )
        (paths.userdata / "health.json").unlink(missing_ok=True)  # a new run starts "starting" again
        health = health_settings(record)
        config = engine.config
        cgroup = container_cgroup_path(config.cgroup_parent, record)
        # With no namespace to configure between the runtime's create and start (runtime.md#start),
        # one ``run --detach`` does both: a runtime process fewer on every start. A pod's infra
        # runs only the pause process, which never touches the network: it may start while CNI
        # configures its namespace, which is ready when this returns, before any member joins it.
        fused = (network is None and not has_pinned_netns(record)) or opts.pod_infra
        runtime_argv = runtime.run_detached_argv if fused else runtime.create_argv
        spec = monitor.MonitorSpec(
            cid=record.id,
            bundle=paths.bundle,
            rundir=paths.rundir,
            attach_socket=paths.attach_socket,
            exit_file=paths.exit_file,
            log_path=_log_path(opts, paths.log),
            create_argv=lambda pid_file, console, log: runtime_argv(
                record.id, paths.bundle, pid_file, console, log
            ),
            terminal=opts.tty,
            stdin=opts.interactive,
            on_exit=lambda: _exited(config, runtime, record.id, cgroup),
            restart=lambda due: monitor_restart(config, record.id, due, start_container),
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
            attach_network(engine, record, network)
        except BaseException as err:
            network_error = err
        try:
            monitor_pid, pid = pending.wait()
        except monitor.CreateFailure as err:
            if pending.attach_socket is not None:
                pending.attach_socket.close()
            if fused:  # a start that failed may leave the runtime's state of the container behind
                delete_quietly(runtime, record.id)
            teardown_network(engine, record)
            engine.db.update_container(record.id, networks={}, error=str(err))
            if network_error is not None:
                raise network_error from None
            raise _invocation_error(err) from None
        ran = {"state": RUNNING, "started_at": time.time()} if fused else {"state": CREATED}
        engine.db.update_container(record.id, pid=pid, monitor_pid=monitor_pid, **ran)
        if network_error is not None:
            # The monitor undoes the network when the killed container exits.
            if pending.attach_socket is not None:
                pending.attach_socket.close()
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, "KILL")
            raise network_error
        if fused:
            _started(engine, record, attach)
            return pending.attach_socket
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
        _started(engine, record, attach)
        return sock


def _exited(config: Any, runtime: OCIRuntime, cid: str, cgroup: str) -> Callable[[int], float | None]:
    """Runs in the monitor the moment the container's process ended: begins the runtime's delete
    (the slowest step of the cleanup, which needs neither the exit code nor the database) and
    returns what records the exit once the monitor has the code (``monitor_exit``)."""
    deletion = RuntimeDeletion(runtime, cid, cgroup)
    return lambda code: monitor_exit(config, cid, code, deletion)


def _log_path(opts: CreateOptions, own: Path) -> Path | None:
    """Where the monitor writes the container's log: ``--log-opt path``, else its own file; with
    ``--log-driver none`` nowhere."""
    if opts.log_driver == "none":
        return None
    return Path(opts.log_path) if opts.log_path else own


def _started(engine: Engine, record: ContainerRecord, attached: bool) -> None:
    """The events of a start, as podman gives them: the runtime made it, it runs, a client holds it."""
    for status in ("init", "start", "attach") if attached else ("init", "start"):
        container_event(engine.config, record, status)


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


def _invocation_error(err: BerthError) -> BerthError:
    message = str(err)
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return CommandNotFound(message)
    return CommandNotExecutable(message)
