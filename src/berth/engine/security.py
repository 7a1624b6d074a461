"""Default capabilities and seccomp profile of a container, and the user's changes to them.

The default capability set is podman 4's (containers.conf ``default_capabilities``). The default
seccomp profile denies, with EPERM, the system calls that Docker's and podman's profiles withhold
from a container lacking the matching capability (kernel modules, clocks, accounting, swap, reboot,
keyrings, ptrace, mount and namespace creation, BPF, perf...); with the capability granted (``--cap-add``)
the matching calls are allowed again. It is a deny list over an allow default, so unlisted new system
calls keep working, where podman's profile is an allow list.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)

# capability(7), in kernel numbering order.
ALL_CAPABILITIES = (
    *("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL"),
    *("CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE"),
    *("CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER"),
    *("CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT"),
    *("CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME"),
    *("CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL"),
    *("CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM"),
    *("CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"),
)


def _normalize(cap: str) -> str:
    name = cap.strip().upper()
    name = name if name.startswith("CAP_") else f"CAP_{name}"
    if name != "CAP_ALL" and name not in ALL_CAPABILITIES:
        raise InvalidArgument(f"unknown capability {cap!r}")
    return name


def host_capabilities() -> list[str]:
    """The capabilities in this process's bounding set: all a privileged container can be given."""
    from pathlib import Path

    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return list(ALL_CAPABILITIES)
    mask = next((int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith("CapBnd:")), -1)
    return [c for i, c in enumerate(ALL_CAPABILITIES) if mask >> i & 1]


def capabilities(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The container's capability set: the default (or all the host allows, if privileged), minus
    drops, plus adds."""
    if privileged:
        return host_capabilities()
    adds = [_normalize(c) for c in cap_add]
    drops = {_normalize(c) for c in cap_drop}
    caps = [] if "CAP_ALL" in drops else [c for c in DEFAULT_CAPABILITIES if c not in drops]
    for cap in ALL_CAPABILITIES if "CAP_ALL" in adds else adds:
        if cap not in caps and cap != "CAP_ALL":
            caps.append(cap)
    return caps


# System calls withheld unless the container holds the capability on the left.
_GATED: dict[str, tuple[str, ...]] = {
    "CAP_SYS_ADMIN": (
        *("mount", "umount", "umount2", "pivot_root", "unshare", "setns", "swapon", "swapoff"),
        *("quotactl", "lookup_dcookie", "fanotify_init", "open_tree", "move_mount", "fsopen"),
        *("fsconfig", "fsmount", "fspick", "name_to_handle_at", "bpf", "perf_event_open"),
    ),
    "CAP_SYS_MODULE": ("init_module", "finit_module", "delete_module", "create_module", "query_module"),
    "CAP_SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "CAP_SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_NICE": ("get_mempolicy", "set_mempolicy", "mbind", "move_pages"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYSLOG": ("syslog",),
}
# Never allowed by the default profile: obsolete or keyring calls that are not namespaced.
_DENIED = (
    *("add_key", "keyctl", "request_key", "nfsservctl", "uselib", "userfaultfd", "ustat", "sysfs"),
    *("_sysctl", "vm86", "vm86old", "get_kernel_syms"),
)
# clone(2) flags that create namespaces; each needs CAP_SYS_ADMIN (seccomp compares one mask per rule).
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_EPERM = 1
_ENOSYS = 38

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
}


def default_seccomp(caps: list[str]) -> dict[str, Any]:
    """The default ``linux.seccomp`` (runtime-spec config-linux.md#seccomp) for a capability set."""
    denied = list(_DENIED)
    for cap, names in _GATED.items():
        if cap not in caps:
            denied += names
    rules: list[dict[str, Any]] = [{"names": sorted(denied), "action": "SCMP_ACT_ERRNO", "errnoRet": _EPERM}]
    if "CAP_SYS_ADMIN" not in caps:
        for flag in _NAMESPACE_FLAGS:
            rules.append(
                {
                    "names": ["clone"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": _EPERM,
                    # On s390 the flags are the second argument; everywhere else the first.
                    "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
                }
            )
        # clone3 passes flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": _ARCHES.get(platform.machine(), []),
        "syscalls": rules,
    }


def load_seccomp(path: str, caps: list[str]) -> dict[str, Any]:
    """A seccomp profile from ``path``: OCI ``linux.seccomp`` form, or Docker's (``includes`` by caps)."""
    try:
        profile = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {err}") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument(f"seccomp profile {path} has no defaultAction")
    rules = []
    for rule in profile.get("syscalls", []):
        needed = rule.get("includes", {}).get("caps", [])
        excluded = rule.get("excludes", {}).get("caps", [])
        if all(c in caps for c in needed) and not any(c in caps for c in excluded):
            rules.append({k: v for k, v in rule.items() if k in ("names", "action", "errnoRet", "args")})
    result: dict[str, Any] = {"defaultAction": profile["defaultAction"], "syscalls": rules}
    if "defaultErrnoRet" in profile:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    result["architectures"] = profile.get("architectures") or _ARCHES.get(platform.machine(), [])
    return result
