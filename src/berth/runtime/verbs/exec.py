"""``exec``: run another process inside a running container (runc exec).

The runtime joins the container's pid and time namespaces itself (setns(2) of those affects only
children), forks, adds the child to the container's cgroup, and the child joins the remaining
namespaces, the user namespace first, before becoming the process. An unprivileged runtime joins
the user namespace itself, before the others. A close-on-exec pipe carries
any failure message back; end-of-file on it means execve(2) succeeded.

The namespaces are opened before the container's process is checked to be still the one ``create``
made (its start time), so an exec never joins those of a process that took the pid of an exited
container.
"""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument, InvalidState
from berth.fsutil import atomic_write
from berth.runtime import container, jsontext, process
from berth.runtime.container import Container
from berth.runtime.linux import capabilities as caps
from berth.runtime.linux import lsm
from berth.runtime.linux.cgroups import load_manager
from berth.runtime.linux.namespaces import CLONE_FLAGS, PROC_NAMES
from berth.runtime.linux.syscalls import Syscalls, syscalls
from berth.spec.runtime_config import (
    Capabilities,
    MemoryPolicy,
    Process,
    User,
    parse_config,
    parse_cpu_list,
    parse_process,
)
from berth.spec.runtime_record import Record

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

    from berth.runtime.linux.cgroups import CgroupManager

#: Namespaces the runtime itself enters before forking (they apply to children only).
_PARENT_NAMESPACES = ("pid", "time")
_CHILD_ORDER = ("user", "ipc", "uts", "network", "cgroup", "mount")


class ExecOptions(Record):
    """runc's ``exec`` flags."""

    process_file: str = ""
    args: tuple[str, ...] = ()
    tty: bool = False
    console_socket: str = ""
    detach: bool = False
    pid_file: str = ""
    cwd: str = ""
    env: tuple[str, ...] = ()
    user: str = ""
    additional_gids: tuple[int, ...] = ()
    caps: tuple[str, ...] = ()
    no_new_privs: bool = False
    preserve_fds: int = 0
    #: ``--apparmor`` and ``--process-label``: replace the config's apparmorProfile / selinuxLabel.
    apparmor: str = ""
    process_label: str = ""


def build_process(base: Process | None, opts: ExecOptions) -> Process:
    """The process to run: ``--process FILE`` as is, or the container's process adjusted by flags."""
    proc = _process(base, opts)
    if opts.apparmor:
        proc = proc.replace(apparmor_profile=opts.apparmor)
    if opts.process_label:
        proc = proc.replace(selinux_label=opts.process_label)
    return proc


def _process(base: Process | None, opts: ExecOptions) -> Process:
    if opts.process_file:
        with open(opts.process_file, "rb") as fh:
            return parse_process(jsontext.loads(fh.read()))
    if not opts.args:
        raise InvalidArgument("exec: no command given (use --process or ARGS)")
    if base is None:
        raise InvalidArgument("exec: the container's config has no process to inherit from")
    env = dict(e.split("=", 1) for e in base.env)
    for entry in opts.env:
        key, sep, value = entry.partition("=")
        if not sep:
            raise InvalidArgument(f"--env {entry!r}: expected KEY=VALUE")
        env[key] = value
    user = base.user
    if opts.user:
        uid, _, gid = opts.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidArgument(f"--user {opts.user!r}: expected UID[:GID]")
        user = User(uid=int(uid), gid=int(gid) if gid else 0, umask=base.user.umask)
    if opts.additional_gids:
        user = user.replace(additional_gids=opts.additional_gids)
    capabilities = base.capabilities
    if opts.caps and capabilities is not None:
        extra = tuple(caps.name(caps.number(c)) for c in opts.caps)
        capabilities = Capabilities(
            *(tuple(dict.fromkeys(getattr(capabilities, s) + extra)) for s in
              ("bounding", "effective", "inheritable", "permitted", "ambient"))
        )  # fmt: skip
    return base.replace(
        args=opts.args,
        cwd=opts.cwd or base.cwd,
        env=tuple(f"{k}={v}" for k, v in env.items()),
        terminal=opts.tty,
        user=user,
        capabilities=capabilities,
        no_new_privileges=base.no_new_privileges or opts.no_new_privs,
        rlimits=(),
    )


def exec_in(c: Container, opts: ExecOptions, sc: Syscalls | None = None) -> int:
    """Run the process in ``c``; return its exit status, or 0 at once with ``--detach``."""
    sc = sc or syscalls()
    status = c.status()
    if status not in (container.CREATED, container.RUNNING):
        raise InvalidState(f"cannot exec in container {c.id!r}: it is {status}")
    config = parse_config(c.config)
    proc = build_process(config.process, opts)
    lsm.check(config.replace(process=proc))
    if proc.terminal and not opts.console_socket and opts.detach:
        raise InvalidArgument("exec: a detached terminal needs --console-socket")
    seccomp = process.compile_seccomp(config.linux.seccomp, c.root)
    console_fd = relay_fd = -1
    if proc.terminal:
        from berth.runtime.linux import console

        if opts.console_socket:
            console_fd = console.connect(opts.console_socket)
        else:  # in the foreground: the master comes back here, relayed to this process's stdio
            relay_fd, console_fd = console.foreground_pair()
            if proc.console_size is None:  # the process starts with our terminal's size
                proc = proc.replace(console_size=console.terminal_size(0))
    joins = _open_namespaces(c)
    try:
        # An unprivileged (rootless) runtime has the capabilities the other joins need only inside
        # the container's user namespace (user_namespaces(7)), so it enters that one itself, first.
        in_parent = ("user", *_PARENT_NAMESPACES) if os.geteuid() != 0 else _PARENT_NAMESPACES
        for ns in in_parent:
            if ns in joins:
                sc.setns(joins[ns], CLONE_FLAGS[ns])
        in_child = [(ns, joins[ns]) for ns in _CHILD_ORDER if ns in joins and ns not in in_parent]
        manager = load_manager(c.cgroup) if c.cgroup else None
        err_r, err_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(err_r)
            policy = config.linux.memory_policy
            _child(sc, in_child, proc, policy, seccomp, console_fd, opts.preserve_fds, manager, err_w)
    finally:
        for fd in joins.values():
            os.close(fd)
    os.close(err_w)
    if console_fd >= 0:
        os.close(console_fd)
    try:
        message = _read_all(err_r)
    except BaseException:
        os.kill(child, 9)
        os.waitpid(child, 0)
        raise
    finally:
        os.close(err_r)
    if message:
        os.waitpid(child, 0)
        raise BerthError(f"exec failed: {message}")
    if opts.pid_file:
        atomic_write(os.path.abspath(opts.pid_file), str(child).encode())
    if opts.detach:
        return 0
    if relay_fd >= 0:
        from berth.runtime.linux import console

        console.relay_foreground(relay_fd)
    _, wait_status = os.waitpid(child, 0)
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def _open_namespaces(c: Container) -> dict[str, int]:
    """Fds of the namespaces in which the container's process differs from this one, by type.
    They are opened first and the process's start time checked after: a match then means they
    are its own (a pid is not reused while its process lives); else it has exited."""
    fds: dict[str, int] = {}
    try:
        for ns_type in (*_PARENT_NAMESPACES, *_CHILD_ORDER):
            name = PROC_NAMES[ns_type]
            try:
                fd = os.open(f"/proc/{c.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # the kernel lacks this namespace type (or the process is gone: see below)
            if os.fstat(fd).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                os.close(fd)  # the same namespace as this process's: nothing to join
            else:
                fds[ns_type] = fd
        if container.process_start(c.pid) != c.pid_start:
            raise InvalidState(f"cannot exec in container {c.id!r}: it is stopped")
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def _child(
    sc: Syscalls,
    joins: Sequence[tuple[str, int]],
    proc: Process,
    memory_policy: MemoryPolicy | None,
    seccomp: process.SeccompProgram | None,
    console_fd: int,
    preserve_fds: int,
    manager: CgroupManager | None,
    err_w: int,
) -> NoReturn:
    try:
        affinity = proc.exec_cpu_affinity
        if affinity is not None and affinity.initial:  # config.md#linux-process execCPUAffinity
            os.sched_setaffinity(0, parse_cpu_list(affinity.initial, "process.execCPUAffinity.initial"))
        if manager is not None:
            # First, while the host's cgroupfs is in reach; moving itself is cheap (add_self).
            manager.add_self()
        if affinity is not None and affinity.final:
            os.sched_setaffinity(0, parse_cpu_list(affinity.final, "process.execCPUAffinity.final"))
        for ns, fd in joins:  # in _CHILD_ORDER: the user namespace first
            sc.setns(fd, CLONE_FLAGS[ns])
            os.close(fd)
        os.setsid()
        if proc.terminal:
            from berth.runtime.linux import console

            console.setup(sc, console_fd, proc.console_size, mount_console=False)
        env = process.environment(proc)
        os.chdir(proc.cwd)
        path = process.find_executable(proc.args[0], env, proc.cwd)
        process.set_oom_score_adj(proc)
        process.set_rlimits(sc, proc)
        process.set_scheduling(sc, proc)
        process.set_memory_policy(sc, memory_policy)
        process.drop_privileges(sc, proc, seccomp)
        process.close_extra_fds(preserve_fds)
        os.set_inheritable(err_w, False)
        process.exec_process(sc, proc, path, env, seccomp)
    except BaseException as err:
        try:
            os.write(err_w, (" ".join(str(err).split()) or type(err).__name__).encode())
        finally:
            os._exit(127)
    os._exit(127)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()
