"""Capability names and numbers, and applying config.md's five capability sets to the init process.

The order follows what the kernel allows: the bounding set is reduced while the process still holds
CAP_SETPCAP; ``keep_caps`` survives the uid switch; then effective/permitted/inheritable are set with
capset(2) and the ambient set is raised one capability at a time (capabilities(7)).
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.runtime.linux.syscalls import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    Syscalls,
)
from berth.spec.runtime_config import CAPABILITY_NAMES, Capabilities

_NUMBERS = {name: number for number, name in enumerate(CAPABILITY_NAMES)}


def number(name: str) -> int:
    """The kernel's number for a capability name such as ``CAP_KILL``."""
    try:
        return _NUMBERS[name if name.startswith("CAP_") else f"CAP_{name.upper()}"]
    except KeyError:
        raise InvalidArgument(f"invalid capability name {name!r}") from None


def name(cap: int) -> str:
    """The name of capability number ``cap``."""
    return CAPABILITY_NAMES[cap]


def last_cap() -> int:
    """The highest capability number the running kernel knows (capabilities(7) cap_last_cap)."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as fh:
        return int(fh.read())


def mask(names: tuple[str, ...], known: int) -> int:
    """A bit mask of ``names``; capabilities newer than the kernel (> ``known``) are skipped, as runc does."""
    bits = 0
    for cap in names:
        n = number(cap)
        if n <= known:
            bits |= 1 << n
    return bits


def drop_bounding(sc: Syscalls, caps: Capabilities, known: int) -> None:
    """Remove from the bounding set every capability the config does not list (needs CAP_SETPCAP)."""
    keep = mask(caps.bounding, known)
    for cap in range(known + 1):
        if not keep & (1 << cap):
            sc.prctl(PR_CAPBSET_DROP, cap)


def keep_caps(sc: Syscalls, keep: bool) -> None:
    """Keep permitted capabilities across setuid(2) away from root (prctl PR_SET_KEEPCAPS)."""
    sc.prctl(PR_SET_KEEPCAPS, 1 if keep else 0)


def apply_sets(sc: Syscalls, caps: Capabilities, known: int) -> None:
    """Set effective, permitted, inheritable (capset) then ambient (one raise per capability)."""
    permitted, inheritable = mask(caps.permitted, known), mask(caps.inheritable, known)
    sc.capset(mask(caps.effective, known), permitted, inheritable)
    sc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    # capabilities(7): an ambient capability must be permitted and inheritable, else the kernel
    # refuses it; runc's default spec lists ambient without inheritable, so those are skipped.
    raise_ = mask(caps.ambient, known) & permitted & inheritable
    for n in range(known + 1):
        if raise_ & (1 << n):
            sc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n)
