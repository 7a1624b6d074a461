"""Usage figures from cgroup v2 files, in the shape of ``runc events --stats`` (v1's names)."""

from __future__ import annotations

import os

from berth.runtime.linux.cgroups.files import read_int, read_keyed, read_text
from berth.runtime.linux.cgroups.stats_common import (
    blkio_entry,
    cpu_numbers,
    hugepage_sizes,
    memory_entry,
    pruned,
    runc_extras,
)

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_UNLIMITED = 2**64 - 1


def stats(path: str) -> dict[str, Any]:
    """cpu, cpuset, memory, pids, blkio and hugetlb figures for the cgroup at ``path``."""
    return {
        "cpu": _cpu(path),
        "cpuset": _cpuset(path),
        "memory": _memory(path),
        "pids": _pids(path),
        "blkio": _io(path),
        "hugetlb": _hugetlb(path),
        **runc_extras(),
    }


def _cpuset(path: str) -> dict[str, Any]:
    # v2 has none of v1's cpuset flags; the effective lists are what the cgroup may use.
    out = {}
    for key in ("cpus", "mems"):
        try:
            out[key] = cpu_numbers(read_text(path, f"cpuset.{key}.effective"))
        except FileNotFoundError:
            continue
    return out


def _cpu(path: str) -> dict[str, Any]:
    stat = read_keyed(path, "cpu.stat")  # microseconds; runc's shape is nanoseconds
    usage = {
        "total": stat.get("usage_usec", 0) * 1000,
        "kernel": stat.get("system_usec", 0) * 1000,
        "user": stat.get("user_usec", 0) * 1000,
    }
    throttling = {
        "periods": stat.get("nr_periods", 0),
        "throttledPeriods": stat.get("nr_throttled", 0),
        "throttledTime": stat.get("throttled_usec", 0) * 1000,
    }
    return {"usage": pruned(usage, "kernel", "user"), "throttling": pruned(throttling)}


def _memory(path: str) -> dict[str, Any]:
    if not os.path.exists(os.path.join(path, "memory.current")):
        return {}
    raw = read_keyed(path, "memory.stat")
    events = read_keyed(path, "memory.events")
    usage = read_int(path, "memory.current")
    limit = read_int(path, "memory.max", _UNLIMITED)
    swap_usage = read_int(path, "memory.swap.current")
    swap_limit = read_int(path, "memory.swap.max", _UNLIMITED)
    peak = read_int(path, "memory.peak")
    # v1 reported swap as memory+swap; runc keeps that meaning on v2.
    swap_total_limit = _UNLIMITED if _UNLIMITED in (swap_limit, limit) else swap_limit + limit
    return pruned(
        {
            "cache": raw.get("file", 0),
            "usage": memory_entry(limit, usage, peak, events.get("max", 0)),
            "swap": memory_entry(swap_total_limit, usage + swap_usage, 0, events.get("max", 0)),
            "kernel": memory_entry(0, 0, 0, 0),
            "kernelTCP": memory_entry(0, 0, 0, 0),
            "raw": raw,
        },
        "usage",
        "swap",
        "kernel",
        "kernelTCP",
    )


def _pids(path: str) -> dict[str, Any]:
    return pruned({"current": read_int(path, "pids.current"), "limit": read_int(path, "pids.max")})


def _io(path: str) -> dict[str, Any]:
    try:
        text = read_text(path, "io.stat")
    except FileNotFoundError:
        return {}
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in text.splitlines():
        device, *pairs = line.split()
        major, minor = (int(n) for n in device.split(":"))
        values = dict(pair.split("=", 1) for pair in pairs)
        for key, op, table in (
            ("rbytes", "Read", service_bytes),
            ("wbytes", "Write", service_bytes),
            ("rios", "Read", serviced),
            ("wios", "Write", serviced),
        ):
            if key in values:
                table.append(blkio_entry(major, minor, op, int(values[key])))
    return pruned({"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced})


def _hugetlb(path: str) -> dict[str, Any]:
    out = {}
    for size in hugepage_sizes():
        if not os.path.exists(os.path.join(path, f"hugetlb.{size}.current")):
            continue
        events = read_keyed(path, f"hugetlb.{size}.events")
        out[size] = pruned(
            {"usage": read_int(path, f"hugetlb.{size}.current"), "failcnt": events.get("max", 0)}, "failcnt"
        )
    return out
