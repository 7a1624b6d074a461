"""Turning the calling process into config.md#process and exec'ing it (shared by init and ``exec``).

Order matters (runc does the same): rlimits and oom score while privileged; the bounding set while
CAP_SETPCAP is held; seccomp before dropping privileges unless noNewPrivileges lets an unprivileged
process install it; groups, gid, uid with capabilities kept across the switch; then the capability
sets; noNewPrivileges; and, last, the seccomp filter and execve(2).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the signal module's enums cost ~4 ms
import os
import stat

from berth.errors import BerthError, InvalidArgument
from berth.runtime.linux import capabilities as caps
from berth.runtime.linux import lsm
from berth.runtime.linux.syscalls import PR_SET_NO_NEW_PRIVS, Syscalls
from berth.spec.runtime_config import (
    IOPRIO_CLASSES,
    MPOL_FLAGS,
    MPOL_MODES,
    RLIMIT_TYPES,
    SCHED_FLAGS,
    SCHED_POLICIES,
    MemoryPolicy,
    Process,
    parse_cpu_list,
)
from berth.spec.runtime_record import Record

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The seccomp cache's directory under the state root (no state.json in it, so never a container).
SECCOMP_CACHE = ".seccomp-cache"


class SeccompProgram(Record):
    """A compiled filter: raw ``struct sock_filter`` array and SECCOMP_FILTER_FLAG_* bits."""

    program: bytes
    flags: int


def environment(process: Process) -> dict[str, str]:
    """The process environment; HOME from /etc/passwd when the config omits it (as runc does)."""
    env = dict(e.split("=", 1) for e in process.env)
    if "HOME" not in env:
        env["HOME"] = home_of(process.user.uid)
    return env


def home_of(uid: int) -> str:
    """The home directory of ``uid`` in the current root's /etc/passwd, or ``/``."""
    try:
        with open("/etc/passwd") as fh:
            for line in fh:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(name: str, env: dict[str, str], cwd: str) -> str:
    """Resolve ``args[0]`` as execvp(3) would, in the current root, so failures surface before start."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(cwd, name)
        candidates = [path]
    else:
        candidates = [os.path.join(d or ".", name) for d in env.get("PATH", DEFAULT_PATH).split(":")]
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return path
    raise InvalidArgument(f"exec: {name!r}: executable file not found in $PATH")


def set_rlimits(sc: Syscalls, process: Process) -> None:
    """config.md#posix-process rlimits (numbers are RLIMIT_* in the kernel's order)."""
    for rl in process.rlimits:
        try:
            sc.setrlimit(RLIMIT_TYPES.index(rl.type), rl.soft, rl.hard)
        except OSError as err:
            raise InvalidArgument(f"rlimit {rl.type} ({rl.soft}, {rl.hard}): {err.strerror}") from None


def set_scheduling(sc: Syscalls, process: Process) -> None:
    """config.md#linux-process ``scheduler`` and ``ioPriority``, set while still privileged (a
    real-time policy needs CAP_SYS_NICE, the real-time I/O class CAP_SYS_ADMIN)."""
    sched = process.scheduler
    if sched is not None:
        flags = sum(1 << SCHED_FLAGS.index(flag) for flag in set(sched.flags))
        try:
            sc.sched_setattr(
                SCHED_POLICIES.index(sched.policy), flags, sched.nice, sched.priority,
                sched.runtime, sched.deadline, sched.period,
            )  # fmt: skip
        except OSError as err:
            raise InvalidArgument(f"process.scheduler: {sched.policy}: {err.strerror}") from None
    io = process.io_priority
    if io is not None:
        try:
            sc.ioprio_set(IOPRIO_CLASSES.index(io.io_class) + 1, io.priority)
        except OSError as err:
            raise InvalidArgument(
                f"process.ioPriority: {io.io_class} {io.priority}: {err.strerror}"
            ) from None


def set_memory_policy(sc: Syscalls, policy: MemoryPolicy | None) -> None:
    """config-linux.md#memory-policy, through set_mempolicy(2); children and execve keep it."""
    if policy is None:
        return
    mode = MPOL_MODES.index(policy.mode) | sum(MPOL_FLAGS[flag] for flag in set(policy.flags))
    nodes = parse_cpu_list(policy.nodes, "linux.memoryPolicy.nodes") if policy.nodes else set()
    try:
        sc.set_mempolicy(mode, nodes)
    except OSError as err:
        where = f"{policy.mode} nodes {policy.nodes}" if policy.nodes else policy.mode
        raise InvalidArgument(f"linux.memoryPolicy: {where}: {err.strerror}") from None


def set_oom_score_adj(process: Process) -> None:
    """config.md#process oomScoreAdj, written to /proc/self/oom_score_adj."""
    if process.oom_score_adj is None:
        return
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write(str(process.oom_score_adj))


def drop_privileges(sc: Syscalls, process: Process, seccomp: SeccompProgram | None) -> None:
    """Everything from the bounding set to noNewPrivileges; a filter needing privilege goes in here."""
    lsm.set_exec_labels(process)  # while privileged, as runc does
    known = caps.last_cap()
    if process.capabilities is not None:
        caps.drop_bounding(sc, process.capabilities, known)
    if seccomp is not None and not process.no_new_privileges:
        sc.seccomp_set_mode_filter(seccomp.program, seccomp.flags)
    user = process.user
    caps.keep_caps(sc, True)
    try:
        os.setgroups(list(user.additional_gids))
    except PermissionError:
        if user.additional_gids:  # user_namespaces(7): setgroups may be denied in a user namespace
            raise
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    if process.capabilities is not None:
        caps.apply_sets(sc, process.capabilities, known)
    caps.keep_caps(sc, False)
    os.umask(0o022 if user.umask is None else user.umask)
    if process.no_new_privileges:
        sc.prctl(PR_SET_NO_NEW_PRIVS, 1)


def close_extra_fds(preserve_fds: int) -> None:
    """Mark every fd past stdio and the ``--preserve-fds`` ones close-on-exec."""
    first = 3 + preserve_fds
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue  # the fd listdir itself used, closed by now


def exec_process(
    sc: Syscalls, process: Process, path: str, env: dict[str, str], seccomp: SeccompProgram | None
) -> None:
    """Install a noNewPrivileges seccomp filter last, then execve(2); returns only by raising."""
    # CPython ignores SIGPIPE and SIGXFSZ for itself, and ignored signals survive execve(2): give
    # the container the default dispositions (what subprocess's restore_signals does).
    for signum in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(signum, _signal.SIG_DFL)
    if seccomp is not None and process.no_new_privileges:
        sc.seccomp_set_mode_filter(seccomp.program, seccomp.flags)
    try:
        os.execve(path, list(process.args), env)
    except OSError as err:
        raise BerthError(f"exec {process.args[0]}: {err.strerror}") from None


def compile_seccomp(seccomp: Mapping[str, Any] | None, root: str) -> SeccompProgram | None:
    """Compile linux.seccomp before forking, so the init only makes the one seccomp(2) call.

    Compiled programs are cached under the runtime's state ``root``: libseccomp takes ~15 ms for a
    typical profile, and a hit imports neither libseccomp's bindings nor ``ctypes``
    (``berth.runtime.linux.seccomp_cache``).
    """
    if not seccomp:
        return None
    from berth.runtime.linux import seccomp_cache

    def compiled_now() -> tuple[bytes, int]:
        from berth.runtime.linux.seccomp import compile_filter

        compiled = compile_filter(seccomp)  # raises for a bad profile or a missing libseccomp
        return compiled.program, compiled.flags

    found = seccomp_cache.program(os.path.join(root, SECCOMP_CACHE), seccomp, compiled_now)
    return SeccompProgram(*found)
