"""Default capabilities of a container, and the user's changes to them.

The default capability set is podman 4's (containers.conf ``default_capabilities``); the seccomp
profile that goes with a capability set is in ``berth.engine.containers.seccomp``.
"""

from __future__ import annotations

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
    # ALL is every capability the host can give: runc fails on one outside its bounding set.
    for cap in host_capabilities() if "CAP_ALL" in adds else adds:
        if cap not in caps and cap != "CAP_ALL":
            caps.append(cap)
    return caps
