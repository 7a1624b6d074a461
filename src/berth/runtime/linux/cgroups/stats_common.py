"""Pieces of the ``runc events --stats`` data shape shared by both cgroup versions.

runc's types/events.go marks most numbers ``omitempty``; the same keys are left out here when zero.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from typing import Any

HUGEPAGES_DIR = "/sys/kernel/mm/hugepages"


def pruned(obj: dict[str, Any], *always: str) -> dict[str, Any]:
    """``obj`` without zero or empty values, except the keys in ``always`` (not omitempty in runc)."""
    return {k: v for k, v in obj.items() if k in always or v not in (0, None, [], {})}


def memory_entry(limit: int, usage: int, max_usage: int, failcnt: int) -> dict[str, Any]:
    """One of memory.usage / swap / kernel / kernelTCP."""
    return pruned({"limit": limit, "usage": usage, "max": max_usage, "failcnt": failcnt}, "limit", "failcnt")


def hugepage_sizes() -> list[str]:
    """The host's huge page sizes as cgroup files name them (``2MB``, ``1GB``)."""
    try:
        names = os.listdir(HUGEPAGES_DIR)
    except FileNotFoundError:
        return []
    sizes = []
    for name in sorted(names):
        kb = int(name.removeprefix("hugepages-").removesuffix("kB"))
        sizes.append(f"{kb >> 20}GB" if kb >= 1 << 20 else f"{kb >> 10}MB" if kb >= 1 << 10 else f"{kb}KB")
    return sizes


def blkio_entry(major: int, minor: int, op: str, value: int) -> dict[str, Any]:
    """One row of a blkio table."""
    return pruned({"major": major, "minor": minor, "op": op, "value": value})


def cpu_numbers(text: str) -> list[int]:
    """A cpuset list such as ``0-2,7`` as ``[0, 1, 2, 7]``."""
    out: list[int] = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def runc_extras() -> dict[str, Any]:
    """Keys runc's Stats always carries that Berth has no source for (Intel RDT, network interfaces)."""
    return {"intel_rdt": {}, "network_interfaces": None}
