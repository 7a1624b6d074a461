"""``create``: build the container from a bundle and leave its init waiting for ``start`` (runtime.md#create).

A failure at any step undoes what was done: the init is killed, the cgroup destroyed, the state
directory removed (mounts live in the container's mount namespace and vanish with it).
"""

from __future__ import annotations

import os
import time

from berth.errors import BerthError, InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.runtime import container, hooks, init, jsontext, process, sync
from berth.runtime.container import Container
from berth.runtime.linux import lsm, namespaces
from berth.runtime.linux import syscalls as s
from berth.runtime.linux.cgroups import CgroupManager, open_manager
from berth.runtime.linux.cgroups.manager import CgroupAccessDenied
from berth.runtime.linux.devices import with_device_rules
from berth.runtime.linux.syscalls import Syscalls, syscalls
from berth.spec.runtime_config import RuntimeConfig, parse_config
from berth.spec.runtime_record import Record

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn


class CreateOptions(Record):
    """runc's ``create`` flags."""

    container_id: str
    bundle: str = "."
    root: str = container.DEFAULT_ROOT
    pid_file: str = ""
    console_socket: str = ""
    preserve_fds: int = 0
    no_pivot: bool = False
    no_new_keyring: bool = False
    #: an unprivileged caller (runc's ``--rootless``): a cgroup it may not create is done without.
    rootless: bool = False
    #: an already connected console socket (``run`` makes one to proxy the pty itself), or -1.
    console_fd: int = -1


def load_bundle(bundle: str) -> tuple[dict[str, object], RuntimeConfig, str]:
    """Read and validate ``<bundle>/config.json``; return (raw JSON, config, absolute rootfs)."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as fh:
            raw = jsontext.loads(fh.read())
    except FileNotFoundError:
        raise NotFound(f"bundle {bundle}: no config.json") from None
    except ValueError as err:
        raise InvalidArgument(f"{path}: invalid JSON: {err}") from None
    config = parse_config(raw)
    rootfs = os.path.join(bundle, config.root.path)
    if not os.path.isdir(rootfs):
        raise NotFound(f"root.path: {rootfs} is not a directory")
    return raw, config, os.path.normpath(rootfs)


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with nanoseconds, like runc's ``created``."""
    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


def create(opts: CreateOptions, sc: Syscalls | None = None) -> Container:
    """Create the container; on return its init is blocked on the exec FIFO."""
    return create_parsed(opts, sc)[0]


def create_parsed(opts: CreateOptions, sc: Syscalls | None = None) -> tuple[Container, RuntimeConfig]:
    """``create``, also returning the parsed config (``run`` passes it on rather than parse it again)."""
    sc = sc or syscalls()
    container.check_id(opts.container_id)
    bundle = os.path.abspath(opts.bundle)
    raw, config, rootfs = load_bundle(bundle)
    # runtime.md#start: a config without ``process`` may be created; only ``start`` must fail.
    terminal = config.process is not None and config.process.terminal
    if terminal and not opts.console_socket and opts.console_fd < 0:
        raise InvalidArgument("process.terminal is set but no --console-socket was given")
    if (opts.console_socket or opts.console_fd >= 0) and not terminal:
        raise InvalidArgument("--console-socket needs process.terminal in the config")
    if config.linux.namespace("mount") is None and (config.linux.masked_paths or config.linux.readonly_paths):
        # As runc: these are mounts over host paths, which only a private mount namespace confines.
        raise InvalidArgument(
            "linux.maskedPaths/readonlyPaths: unable to restrict paths without a mount namespace"
        )
    lsm.check(config)
    seccomp = process.compile_seccomp(config.linux.seccomp, opts.root)
    c = container.new(opts.root, opts.container_id, bundle, rootfs)
    c.config, c.annotations = raw, dict(config.annotations)
    c.created = rfc3339_now()  # before the create hooks, whose state carries it
    # Held until create returns, so a concurrent delete or start waits for the container to exist.
    with container.lock(opts.root, c.id, creating=True) as lock_fd:
        manager: CgroupManager | None = None
        detached: dict[int, int] = {}
        console_fd = opts.console_fd
        fifo_fd = -1
        try:
            os.mkfifo(c.fifo, 0o600)
            os.chmod(c.fifo, 0o622)  # the init may write it after switching to an unprivileged user
            # Opened here, inherited by the init: in a user namespace it may not reach the state
            # directory itself (runc hands its init the FIFO the same way).
            fifo_fd = os.open(c.fifo, os.O_PATH | os.O_CLOEXEC)
            if opts.console_socket:
                from berth.runtime.linux import console

                console_fd = console.connect(opts.console_socket)
            manager = _make_cgroup(sc, config, c.id, opts.rootless)
            c.cgroup = manager.to_state() if manager is not None else {}
            c.save()  # status "creating", and what a later delete --force needs to clean up
            if manager is not None:
                manager.set_resources(with_device_rules(config.linux.resources, config.linux.devices))
            detached = _idmapped_mounts(sc, config, bundle)
            args = init.InitArgs(
                c.id, config, bundle, rootfs, fifo_fd, console_fd, opts.preserve_fds, opts.no_pivot,
                opts.no_new_keyring, seccomp, tuple(detached.items()),
            )  # fmt: skip
            c.pid = _spawn(sc, c, args, manager, lock_fd)
            c.pid_start, c.creator = container.process_start(c.pid), 0
            c.save()
            if opts.pid_file:
                atomic_write(os.path.abspath(opts.pid_file), str(c.pid).encode())
        except BaseException as err:
            rollback(c, manager, config, isinstance(err, (hooks.HookFailed, sync.ChildHookError)))
            if isinstance(err, sync.ChildError):
                raise BerthError(f"container init: {err}") from None
            raise
        finally:
            for fd in (console_fd, fifo_fd, *detached.values()):
                if fd >= 0:
                    os.close(fd)
    return c, config


def _idmapped_mounts(sc: Syscalls, config: RuntimeConfig, bundle: str) -> dict[int, int]:
    """The detached idmapped mounts the init attaches, by index in ``mounts`` (none usually: the
    module that makes them is imported only then)."""
    if not any(m.idmapped for m in config.mounts):
        return {}
    from berth.runtime.linux import idmap

    return idmap.open_mounts(sc, config, bundle)


def _make_cgroup(sc: Syscalls, config: RuntimeConfig, cid: str, rootless: bool) -> CgroupManager | None:
    """Create the container's cgroup; None for a rootless container that may not create one, as
    long as its config asks for no limits (runc's rootless cgroup handling)."""
    manager = open_manager(config.linux.cgroups_path, cid)
    if manager.version == 2:
        # config-linux.md#allowed-device-list on cgroup v2 is an eBPF program (bpf(2)).
        manager.set_device_filter_loader(sc.attach_cgroup_device_filter)
    try:
        manager.create()
    except CgroupAccessDenied as err:
        if not rootless:
            raise
        limits = sorted(key for key, value in config.linux.resources.items() if value and key != "devices")
        if limits:
            raise CgroupAccessDenied(
                f"linux.resources.{limits[0]}: limits need a cgroup, and this unprivileged runtime may"
                f" not make one ({err})"
            ) from None
        return None  # device rules need a cgroup too; without one the host's own rules apply
    return manager


def _spawn(
    sc: Syscalls, c: Container, args: init.InitArgs, manager: CgroupManager | None, lock_fd: int
) -> int:
    """Fork the init (through stage 1 if ``init.needs_stage1``), answer its requests, and return its
    pid once it reports ready."""
    config = args.config
    parent, child = sync.pair()
    join_cgroup = manager.add_self if manager is not None else _no_cgroup
    direct = not init.needs_stage1(config)
    if direct:
        stage1, init_pid = (
            0,
            _fork_in_new_pid_namespace(sc, config, parent, child, lock_fd, args, join_cgroup),
        )
    else:
        stage1, init_pid = (
            _fork(parent, child, lock_fd, lambda: init.stage1(sc, child, args, join_cgroup)),
            0,
        )
    try:
        if stage1:
            if namespaces.wants_new(config.linux, "user"):
                parent.expect("userns")
                namespaces.write_id_maps(stage1, config.linux.uid_mappings, config.linux.gid_mappings)
                parent.send("mapped")
            init_pid = int(parent.expect("init"))
            os.waitpid(stage1, 0)
            stage1 = 0
        c.pid = init_pid
        # runtime.md#state: "created" is "after step 2 in the lifecycle"; the prestart, createRuntime
        # and createContainer hooks are steps 3 to 5, so they see the container created.
        state_json = jsontext.dumps(c.state_document(container.CREATED, init_pid))
        parent.send("state", state_json)
        if init.needs_runtime_hooks(config):
            parent.expect("runtime-hooks")
            # runtime.md#lifecycle: prestart (deprecated) then createRuntime, in the runtime namespace.
            hooks.run_hooks("prestart", config.hooks, state_json)
            hooks.run_hooks("createRuntime", config.hooks, state_json)
            parent.send("ok")
        parent.expect("ready")
        return init_pid
    except BaseException:
        for pid in (stage1, init_pid):
            if pid:
                _kill(pid)
        if stage1 or direct:  # reap what this runtime forked (a direct init is its own child)
            os.waitpid(stage1 or init_pid, 0)
        raise
    finally:
        parent.close()


def _fork(parent: sync.Channel, child: sync.Channel, lock_fd: int, run: Callable[[], NoReturn]) -> int:
    pid = os.fork()
    if pid == 0:
        parent.close()
        os.close(lock_fd)  # else the init would hold the container's lock until it execs
        run()
    child.close()
    return pid


def _fork_in_new_pid_namespace(
    sc: Syscalls, config: RuntimeConfig, parent: sync.Channel, child: sync.Channel, lock_fd: int,
    args: init.InitArgs, join_cgroup: Callable[[], None],
) -> int:  # fmt: skip
    """Fork the init directly; with a new pid namespace, unshared for the runtime's children only
    (unshare(2) CLONE_NEWPID moves none of the caller's own), and left again right after the fork
    (setns(2) to the runtime's own), so the runtime's later children (hooks) stay in its namespace."""
    own = -1
    if namespaces.wants_new(config.linux, "pid"):
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        sc.unshare(s.CLONE_NEWPID)
    try:
        return _fork(parent, child, lock_fd, lambda: init.direct(sc, child, args, join_cgroup))
    finally:
        if own >= 0:
            sc.setns(own, s.CLONE_NEWPID)
            os.close(own)


def _no_cgroup() -> None:
    """What the init does to join the cgroup of a container without one."""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return  # gone already


def rollback(c: Container, manager: CgroupManager | None, config: RuntimeConfig, hook: bool) -> None:
    """Undo a half-made container (kill, cgroup, state); after a hook failure run poststop too."""
    if c.pid:
        start = container.process_start(c.pid)
        _kill(c.pid)
        container.wait_gone(c.pid, start)
    if manager is not None:
        for pid in manager.pids():
            _kill(pid)
        manager.destroy()
    if config.linux.namespace("mount") is None:
        from berth.runtime.linux.rootfs import unmount_under

        unmount_under(syscalls(), c.rootfs)
    if hook:
        # runtime.md#lifecycle: a failed create hook continues the lifecycle at destroy + poststop.
        hooks.warn_hooks("poststop", config.hooks, jsontext.dumps(c.state_document(container.STOPPED, 0)))
    c.remove()
