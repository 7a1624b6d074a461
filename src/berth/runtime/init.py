"""The processes ``create`` forks: the namespace setter (stage 1) and the container init (stage 2).

Stage 1 exists only for what the runtime cannot do for its children without doing it to itself
(``needs_stage1``: a user namespace, namespaces joined by path, a time namespace); otherwise the
runtime unshares the pid namespace for its children alone, forks the init directly (``direct``) and
returns to its own pid namespace. Stage 1 moves itself into the container's cgroup (a single
thread moving itself is cheap, see ``CgroupManager.add_self``), joins the configured namespaces,
creates the user namespace (the runtime writes its id maps) and then the others, and forks stage 2,
which is therefore born in the cgroup and inside the new pid and time namespaces (unshare(2) moves
only children there). Stage 1 reports stage 2's pid and exits, so the init is reparented to the
caller's subreaper, as conmon and containerd's shim expect.

Stage 2 builds the root filesystem, waits for the runtime's "state" message (the hooks need it),
builds the process, reports "ready", then blocks opening the exec FIFO for writing until ``start``
opens it for reading; it writes one byte, runs the startContainer hooks and execs. Anything it
writes after that byte is an error message for ``start``. The FIFO fd is close-on-exec, so ``start``
sees end-of-file exactly when execve(2) succeeded.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.runtime import hooks, jsontext, process
from berth.runtime.linux import namespaces, rootfs
from berth.runtime.linux import syscalls as s
from berth.runtime.sync import Channel
from berth.spec.runtime_config import RuntimeConfig
from berth.spec.runtime_record import Record

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

_PR_SET_DUMPABLE = 4
_PERSONA_LINUX32 = 0x0008


class InitArgs(Record):
    """Everything the forked processes need, fixed before the fork."""

    container_id: str
    config: RuntimeConfig
    bundle: str
    rootfs: str
    #: an O_PATH fd of the exec FIFO, opened by the runtime.
    fifo_fd: int
    console_fd: int
    preserve_fds: int
    no_pivot: bool
    no_new_keyring: bool
    seccomp: process.SeccompProgram | None
    #: detached (idmapped) mounts the runtime prepared: (index in ``mounts``, fd) pairs.
    detached_mounts: tuple[tuple[int, int], ...] = ()


def needs_runtime_hooks(config: RuntimeConfig) -> bool:
    """Whether stage 2 must pause for the runtime to run prestart/createRuntime hooks."""
    return bool(config.hooks.get("prestart") or config.hooks.get("createRuntime"))


def describe(err: BaseException) -> str:
    """One line for ``err``; an OSError without a file name also names the call that failed."""
    message = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename is None and err.__traceback__ is not None:
        # No source lines here: after pivot_root the host's files (and linecache) are out of reach.
        tb = err.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code
        message = f"{code.co_name} ({os.path.basename(code.co_filename)}:{tb.tb_lineno}): {err.strerror}"
    return " ".join(message.split())


def _report(chan: Channel, err: BaseException) -> NoReturn:
    message = describe(err)
    try:
        chan.send("hook-error" if isinstance(err, hooks.HookFailed) else "error", message)
    finally:
        os._exit(1)


def needs_stage1(config: RuntimeConfig) -> bool:
    """Whether the init must come from stage 1: a user namespace (the runtime writes its maps before
    the init exists), a namespace joined by path, or a time namespace (offsets are written before
    any process enters it). Otherwise the runtime forks the init itself (see ``direct``)."""
    linux = config.linux
    return (
        linux.namespace("user") is not None
        or any(ns.path for ns in linux.namespaces)
        or namespaces.wants_new(linux, "time")
    )


def direct(sc: s.Syscalls, chan: Channel, args: InitArgs, join_cgroup: Callable[[], None]) -> NoReturn:
    """The init forked by the runtime itself, already in the new pid namespace (the runtime unshared
    it for its children only): join the cgroup, create the other namespaces, become the container.
    One fork and one process fewer than through stage 1."""
    try:
        join_cgroup()  # first, as in stage 1: a new cgroup namespace is rooted at the cgroup
        flags = namespaces.new_flags(args.config.linux) & ~s.CLONE_NEWPID
        if flags:
            sc.unshare(flags)
    except BaseException as err:
        _report(chan, err)
    stage2(sc, chan, args)


def stage1(sc: s.Syscalls, chan: Channel, args: InitArgs, join_cgroup: Callable[[], None]) -> NoReturn:
    """Join the container's cgroup, enter and create namespaces, fork the init, report its pid, exit."""
    try:
        # First: the init inherits the cgroup, and a new cgroup namespace is rooted at it.
        join_cgroup()
        linux = args.config.linux
        namespaces.join_configured(sc, linux)
        if namespaces.wants_new(linux, "user"):
            sc.unshare(s.CLONE_NEWUSER)
            chan.send("userns")
            chan.expect("mapped")
        user_ns = linux.namespace("user")
        if user_ns is not None:
            # Become root of the user namespace (the id the maps give host root is not ours).
            if linux.gid_mappings or user_ns.path:
                os.setresgid(0, 0, 0)
            if linux.uid_mappings or user_ns.path:
                os.setresuid(0, 0, 0)
        if namespaces.wants_new(linux, "time"):
            sc.unshare(s.CLONE_NEWTIME)
            namespaces.write_time_offsets(dict(linux.time_offsets))
        flags = namespaces.new_flags(linux)
        if flags:
            sc.unshare(flags)
        pid = os.fork()
        if pid == 0:
            stage2(sc, chan, args)
        chan.send("init", str(pid))
    except BaseException as err:
        _report(chan, err)
    os._exit(0)


def stage2(sc: s.Syscalls, chan: Channel, args: InitArgs) -> NoReturn:
    """Become the container: rootfs, console, process attributes; wait for ``start``; exec."""
    try:
        state_json = _build(sc, chan, args)
        proc = args.config.process
        path, env = "", {}
        if proc is not None:  # without one, ``start`` refuses the container (runtime.md#start)
            env = process.environment(proc)
            os.chdir(proc.cwd)
            path = process.find_executable(proc.args[0], env, proc.cwd)
            process.drop_privileges(sc, proc, args.seccomp)
            process.close_extra_fds(args.preserve_fds)
            if proc.user.uid != 0:
                sc.prctl(_PR_SET_DUMPABLE, 1)  # keep /proc/self/fd usable for the FIFO reopen below
        chan.send("ready")
        chan.close()
    except BaseException as err:
        _report(chan, err)
    _wait_for_start_and_exec(sc, args, state_json, path, env)


def _build(sc: s.Syscalls, chan: Channel, args: InitArgs) -> str:
    """Everything between the namespaces and the user switch; returns the state for the startContainer
    hooks."""
    config = args.config
    linux = config.linux
    os.setsid()
    if not args.no_new_keyring:
        try:
            sc.join_session_keyring(f"_ses.{args.container_id}")
        except OSError as err:
            if err.errno != 38:  # ENOSYS: kernels without keys simply have no keyring to join
                raise
    if config.hostname or config.domainname:
        if not namespaces.wants_new(linux, "uts") and linux.namespace("uts") is None:
            raise InvalidArgument("hostname: setting it needs a private UTS namespace")
        if config.hostname:
            sc.sethostname(config.hostname)
        if config.domainname:
            sc.setdomainname(config.domainname)
    if namespaces.wants_new(linux, "network"):
        sc.set_loopback_up()  # as runc: a container's own network namespace has a working 127.0.0.1
    private_mounts = linux.namespace("mount") is not None
    in_userns = linux.namespace("user") is not None
    rootfs.prepare(
        sc, config, args.rootfs, args.bundle, in_userns, private_mounts, dict(args.detached_mounts)
    )
    proc = config.process
    if proc is not None:
        os.makedirs(os.path.join(args.rootfs, proc.cwd.lstrip("/")), 0o755, exist_ok=True)
    # The runtime sends the state once stage 1 is gone; it is first needed for the hooks.
    state_json = chan.expect("state")
    if needs_runtime_hooks(config):
        chan.send("runtime-hooks")
        chan.expect("ok")
    if config.hooks.get("createContainer") or config.hooks.get("startContainer"):
        state_json = _as_seen_inside(state_json)
    hooks.run_hooks("createContainer", config.hooks, state_json)
    _import_before_pivot(config)
    rootfs.switch_root(sc, args.rootfs, args.no_pivot, private_mounts)
    _apply_sysctl(dict(linux.sysctl))
    if proc is not None and proc.terminal:
        from berth.runtime.linux import console  # imported by _import_before_pivot

        console.setup(sc, args.console_fd, proc.console_size, mount_console=True)
    if private_mounts:
        rootfs.finish(sc, config)
    if proc is not None:
        process.set_oom_score_adj(proc)
        process.set_rlimits(sc, proc)
        process.set_scheduling(sc, proc)
    process.set_memory_policy(sc, linux.memory_policy)
    if linux.personality is not None and linux.personality.domain == "LINUX32":
        sc.personality(_PERSONA_LINUX32)
    return state_json


def _as_seen_inside(state_json: str) -> str:
    """The state for the hooks run in the container namespace (createContainer, startContainer):
    runtime.md#state, pid "for hooks executed in the container namespace, it is the pid as seen by
    the container" (1 in a new pid namespace). Both see status created: neither step 5 nor step 7
    of runtime.md#lifecycle has executed the user-specified program yet."""
    state = jsontext.loads(state_json)
    state["pid"] = os.getpid()
    return jsontext.dumps(state)


def _import_before_pivot(config: RuntimeConfig) -> None:
    """Import now what the init needs later: once the root is switched the host's modules are gone."""
    if config.process is not None and config.process.terminal:
        import berth.runtime.linux.console  # noqa: F401
    if config.hooks.get("startContainer"):
        import subprocess  # noqa: F401  (hooks.run_hook)


def _apply_sysctl(sysctl: dict[str, str]) -> None:
    """config-linux.md#sysctl: write each key under /proc/sys (dots become slashes)."""
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as fh:
                fh.write(value)
        except OSError as err:
            raise InvalidArgument(f"linux.sysctl.{key}: {err.strerror}") from None


def _wait_for_start_and_exec(
    sc: s.Syscalls, args: InitArgs, state_json: str, path: str, env: dict[str, str]
) -> NoReturn:
    proc = args.config.process
    try:
        # Blocks until ``start`` opens the FIFO for reading (runtime.md#start).
        fd = os.open(f"/proc/self/fd/{args.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        os._exit(1)
    try:
        os.write(fd, b"0")
        os.close(args.fifo_fd)
        if proc is None:
            raise InvalidArgument("process: not set, so there is nothing to start")
        hooks.run_hooks("startContainer", args.config.hooks, state_json)
        process.exec_process(sc, proc, path, env, args.seccomp)
    except BaseException as err:
        try:
            os.write(fd, (str(err) or type(err).__name__).encode())
        finally:
            os._exit(1)
    os._exit(1)
