"""The default seccomp profile of a container, and loading a user's profile.

The default is an allow list, as podman's (containers/common ``seccomp.json``) and Docker's are: a
system call not named here fails with ENOSYS (podman's ``defaultErrnoRet``: libc then falls back to
an older call, as it does for ``clone3``), one named but withheld fails with EPERM. Calls that act
beyond the container's namespaces are allowed only with the capability the kernel checks for them
(Docker's gating: ``CAP_SYS_ADMIN`` for mounts and new namespaces, ``CAP_SYS_PTRACE`` for tracing,
``CAP_SYS_MODULE``, ``CAP_SYS_TIME``, ``CAP_SYS_BOOT``...), so ``--cap-add`` restores them; without
``CAP_SYS_ADMIN``, ``clone`` is allowed only without namespace flags, and ``personality`` only with
the personas programs use. The profile is data for the runtime (runtime-spec
config-linux.md#seccomp); the runtime compiles it.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_EPERM = 1
_ENOSYS = 38

# Allowed to every container, grouped by what they do. 32-bit and time64 variants are listed
# beside their 64-bit names; a name the architecture lacks is ignored by the runtime.
_FILES = (
    *("access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "umask"),
    *("open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3"),
    *("read", "readv", "pread64", "preadv", "preadv2", "readahead", "write", "writev"),
    *("pwrite64", "pwritev", "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice"),
    *("tee", "copy_file_range", "fcntl", "fcntl64", "flock", "ioctl", "fadvise64", "fadvise64_64"),
    *("fallocate", "truncate", "truncate64", "ftruncate", "ftruncate64", "fsync", "fdatasync"),
    *("sync", "syncfs", "sync_file_range", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64"),
    *("fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64"),
    *("getdents", "getdents64", "readdir", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat"),
    *("link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat", "unlink", "unlinkat"),
    *("rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "chown", "chown32"),
    *("fchown", "fchown32", "fchownat", "lchown", "lchown32", "utime", "utimes", "futimesat"),
    *("utimensat", "utimensat_time64"),
    # extended attributes
    *("getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr"),
    *("llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr"),
)
_EVENTS = (
    *("select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64"),
    *("epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old"),
    *("epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "pipe", "pipe2"),
    *("inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark"),
    *("timerfd", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime"),
    *("timerfd_gettime64", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents"),
)
_PROCESSES = (
    *("fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid"),
    *("getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid"),
    *("getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32"),
    *("getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32"),
    *("setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid"),
    *("setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setgroups"),
    *("setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "capget", "capset"),
    *("prctl", "seccomp", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage"),
    *("getpriority", "setpriority", "ioprio_get", "ioprio_set", "set_tid_address", "rseq"),
    *("get_robust_list", "set_robust_list", "get_thread_area", "set_thread_area"),
    *("restart_syscall", "pidfd_open", "pidfd_send_signal", "uname", "sysinfo", "times"),
    *("getcpu", "getrandom", "membarrier", "syscall", "landlock_create_ruleset"),
    *("landlock_add_rule", "landlock_restrict_self"),
    # scheduling of the caller's own threads (the kernel checks CAP_SYS_NICE for raising priority)
    *("sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr"),
    *("sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler"),
    *("sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval"),
    "sched_rr_get_interval_time64",
)
_MEMORY = (
    *("brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync"),
    *("mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "memfd_create"),
    *("memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect", "process_mrelease"),
    *("futex", "futex_time64"),
)
_SIGNALS = (
    *("kill", "tkill", "tgkill", "pause", "sigaltstack", "signal", "sigaction", "sigpending"),
    *("sigprocmask", "sigreturn", "sigsuspend", "rt_sigaction", "rt_sigpending", "rt_sigprocmask"),
    *("rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait"),
    "rt_sigtimedwait_time64",
)
_TIME = (
    *("time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres"),
    *("clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "alarm"),
    *("getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun"),
    *("timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64"),
    # reading the clock's tuning; changing it needs CAP_SYS_TIME, which the kernel checks
    *("adjtimex", "clock_adjtime", "clock_adjtime64"),
)
_SOCKETS = (
    *("socket", "socketpair", "socketcall", "bind", "listen", "accept", "accept4", "connect"),
    *("getsockname", "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto"),
    *("sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64"),
)
_IPC = (  # System V and POSIX message queues, semaphores, shared memory: the container's ipc namespace
    *("ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop", "semtimedop"),
    *("semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt", "mq_open", "mq_unlink"),
    *("mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64"),
    *("mq_notify", "mq_getsetattr"),
)
_ALLOWED = (*_FILES, *_EVENTS, *_PROCESSES, *_MEMORY, *_SIGNALS, *_TIME, *_SOCKETS, *_IPC)

# Calls allowed only with the capability on the left (as Docker gates them); EPERM otherwise.
_GATED: dict[str, tuple[str, ...]] = {
    "CAP_SYS_ADMIN": (
        *("mount", "umount", "umount2", "mount_setattr", "pivot_root", "unshare", "setns", "clone3"),
        *("open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "name_to_handle_at"),
        *("quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init", "bpf", "perf_event_open"),
        *("sethostname", "setdomainname", "swapon", "swapoff", "syslog"),
    ),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
    "CAP_SYS_PTRACE": (
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "kcmp",
        "pidfd_getfd",
    ),
    "CAP_SYS_MODULE": ("init_module", "finit_module", "delete_module", "create_module", "query_module"),
    "CAP_SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "CAP_SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_NICE": (
        "get_mempolicy",
        "set_mempolicy",
        "set_mempolicy_home_node",
        "mbind",
        "migrate_pages",
        "move_pages",
    ),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYSLOG": ("syslog",),
}
# Never allowed: keyrings are not namespaced; the rest are obsolete or reach the whole host.
_DENIED = (
    *("add_key", "keyctl", "request_key", "nfsservctl", "uselib", "userfaultfd", "ustat", "sysfs"),
    *("_sysctl", "vm86", "vm86old", "get_kernel_syms", "bdflush", "io_uring_setup"),
    *("io_uring_enter", "io_uring_register", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"),
)
# clone(2) flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality(2) personas: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# libseccomp architecture names per host machine (x32 only where the kernel runs it: _host_arches),
# and the calls only that architecture has.
_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
}
_ARCH_CALLS = {
    "x86_64": ("arch_prctl", "modify_ldt"),
    "aarch64": (
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ),
    "ppc64le": ("sync_file_range2",),
    "s390x": ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
}
# Docker profiles name architectures as Go does; the host's machine name in those words.
_GO_ARCH = {"x86_64": ("amd64", "x32", "x86"), "aarch64": ("arm64", "arm"), "ppc64le": ("ppc64le",)}
_GO_ARCH["s390x"] = ("s390x", "s390")


def _machine() -> str:
    # os.uname, not platform.machine: the platform module costs every run ~2 ms to import.
    return os.uname().machine


_NR_GETPID = 39  # x86_64's number, which x32 shares (with X32_SYSCALL_BIT set)


def _host_arches(machine: str) -> list[str]:
    """The architectures a default filter covers on ``machine``. x32 is left out where the kernel
    does not run its calls (built without it, or Debian's ``syscall.x32=n``, the default): they
    fail with ENOSYS there whatever the filter says, and covering them about doubles the time runc's
    libseccomp takes to compile the default filter, at every container start."""
    arches = _ARCHES.get(machine, [])
    if "SCMP_ARCH_X32" in arches and not _kernel_runs_x32():
        arches = [a for a in arches if a != "SCMP_ARCH_X32"]
    return arches


@functools.cache
def _kernel_runs_x32() -> bool:
    """Whether this kernel answers an x32 ``getpid``. Asked only while no seccomp filter confines
    this process (a filter that does not cover x32 may kill a caller of it): confined, the answer is
    yes, which keeps x32 in the filter as podman's profile has it."""
    try:
        with open("/proc/self/status", "rb") as status:
            if b"\nSeccomp:\t0\n" not in status.read():
                return True
    except OSError:
        return True
    import ctypes

    from berth.runtime.linux.seccomp_enosys import X32_SYSCALL_BIT

    return int(ctypes.CDLL(None, use_errno=True).syscall(X32_SYSCALL_BIT | _NR_GETPID)) >= 0


def _allow(names: list[str]) -> dict[str, Any]:
    return {"names": sorted(names), "action": "SCMP_ACT_ALLOW"}


def default_seccomp(caps: list[str]) -> dict[str, Any]:
    """The default ``linux.seccomp`` (runtime-spec config-linux.md#seccomp) for a capability set."""
    machine = _machine()
    allowed = [*_ALLOWED, *_ARCH_CALLS.get(machine, ())]
    withheld: list[str] = []
    for cap, names in _GATED.items():
        (allowed if cap in caps else withheld).extend(names)
    allowed_set = set(allowed)
    refused = sorted({n for n in (*withheld, *_DENIED) if n not in allowed_set})
    rules: list[dict[str, Any]] = [_allow(sorted(allowed_set))]
    if "CAP_SYS_ADMIN" in caps:
        rules.append(_allow(["clone"]))
    else:
        # clone without any namespace flag; s390 passes the flags as the second argument.
        index = 1 if machine == "s390x" else 0
        mask = {"index": index, "value": _NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
        rules.append({**_allow(["clone"]), "args": [mask]})
    for persona in _PERSONAS:
        rules.append(
            {**_allow(["personality"]), "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]}
        )
    rules.append({"names": refused, "action": "SCMP_ACT_ERRNO", "errnoRet": _EPERM})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": _ENOSYS,
        "architectures": _host_arches(machine),
        "syscalls": rules,
    }


def _applies(rule: dict[str, Any], caps: list[str]) -> bool:
    """Whether a Docker-format rule's ``includes``/``excludes`` hold for these caps on this host."""
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    arches = _GO_ARCH.get(_machine(), ())
    if includes.get("arches") and not any(a in arches for a in includes["arches"]):
        return False
    if excludes.get("arches") and any(a in arches for a in excludes["arches"]):
        return False
    needed, excluded = includes.get("caps", []), excludes.get("caps", [])
    return all(c in caps for c in needed) and not any(c in caps for c in excluded)


def load_seccomp(path: str, caps: list[str]) -> dict[str, Any]:
    """A seccomp profile from ``path``: OCI ``linux.seccomp`` form, or Docker's (``includes`` and
    ``excludes`` by capabilities and architectures are resolved here)."""
    try:
        profile = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {err}") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument(f"seccomp profile {path} has no defaultAction")
    rules = []
    for rule in profile.get("syscalls", []):
        if _applies(rule, caps):
            rules.append({k: v for k, v in rule.items() if k in ("names", "action", "errnoRet", "args")})
    result: dict[str, Any] = {"defaultAction": profile["defaultAction"], "syscalls": rules}
    if "defaultErrnoRet" in profile:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    result["architectures"] = profile.get("architectures") or _host_arches(_machine())
    return result
