"""Usage figures from cgroup v1 files, in the shape of ``runc events --stats``."""

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
    from collections.abc import Callable
    from typing import Any

    DirectoryOf = Callable[[str], str | None]

_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def stats(directory_of: DirectoryOf) -> dict[str, Any]:
    """cpu, cpuset, memory, pids, blkio and hugetlb figures for the hierarchies that are mounted."""
    return {
        "cpu": _cpu(directory_of("cpuacct"), directory_of("cpu")),
        "cpuset": _cpuset(directory_of("cpuset")),
        "memory": _memory(directory_of("memory")),
        "pids": _pids(directory_of("pids")),
        "blkio": _blkio(directory_of("blkio")),
        "hugetlb": _hugetlb(directory_of("hugetlb")),
        **runc_extras(),
    }


_CPUSET_FLAGS = (
    "cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
    "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level",
)  # fmt: skip


def _cpuset(directory: str | None) -> dict[str, Any]:
    if directory is None:
        return {}
    out: dict[str, Any] = {}
    for key in ("cpus", "mems"):
        try:
            out[key] = cpu_numbers(read_text(directory, f"cpuset.{key}"))
        except FileNotFoundError:
            out[key] = []
    out.update({flag: read_int(directory, f"cpuset.{flag}") for flag in _CPUSET_FLAGS})
    return pruned(out, *_CPUSET_FLAGS)


def _numbers(directory: str, name: str) -> list[int]:
    try:
        return [int(v) for v in read_text(directory, name).split()]
    except FileNotFoundError:
        return []


def _cpu(acct: str | None, cpu: str | None) -> dict[str, Any]:
    usage: dict[str, Any] = {"kernel": 0, "user": 0}
    if acct:
        ticks = read_keyed(acct, "cpuacct.stat")
        usage = {
            "total": read_int(acct, "cpuacct.usage"),
            "percpu": _numbers(acct, "cpuacct.usage_percpu"),
            "percpu_kernel": _numbers(acct, "cpuacct.usage_percpu_sys"),
            "percpu_user": _numbers(acct, "cpuacct.usage_percpu_user"),
            "kernel": ticks.get("system", 0) * _NS_PER_TICK,
            "user": ticks.get("user", 0) * _NS_PER_TICK,
        }
    throttling: dict[str, Any] = {}
    if cpu:
        stat = read_keyed(cpu, "cpu.stat")
        throttling = {
            "periods": stat.get("nr_periods", 0),
            "throttledPeriods": stat.get("nr_throttled", 0),
            "throttledTime": stat.get("throttled_time", 0),
        }
    return {"usage": pruned(usage, "kernel", "user"), "throttling": pruned(throttling)}


def _memory_entry(directory: str, prefix: str) -> dict[str, Any]:
    return memory_entry(
        read_int(directory, f"{prefix}.limit_in_bytes"),
        read_int(directory, f"{prefix}.usage_in_bytes"),
        read_int(directory, f"{prefix}.max_usage_in_bytes"),
        read_int(directory, f"{prefix}.failcnt"),
    )


def _memory(directory: str | None) -> dict[str, Any]:
    if directory is None:
        return {}
    raw = read_keyed(directory, "memory.stat")
    return pruned(
        {
            "cache": raw.get("cache", 0),
            "usage": _memory_entry(directory, "memory"),
            "swap": _memory_entry(directory, "memory.memsw"),
            "kernel": _memory_entry(directory, "memory.kmem"),
            "kernelTCP": _memory_entry(directory, "memory.kmem.tcp"),
            "raw": raw,
        },
        "usage",
        "swap",
        "kernel",
        "kernelTCP",
    )


def _pids(directory: str | None) -> dict[str, Any]:
    if directory is None:
        return {}
    return pruned({"current": read_int(directory, "pids.current"), "limit": read_int(directory, "pids.max")})


def _blkio_table(directory: str, name: str) -> list[dict[str, Any]]:
    try:
        text = read_text(directory, name)
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            rows.append(blkio_entry(int(major), int(minor), parts[1], int(parts[2])))
    return rows


def _blkio(directory: str | None) -> dict[str, Any]:
    if directory is None:
        return {}
    # The CFQ files when the kernel has them, else BFQ's, else the throttle layer's (as runc reads).
    for prefix in ("blkio", "blkio.bfq", "blkio.throttle"):
        service_bytes = _blkio_table(directory, f"{prefix}.io_service_bytes_recursive")
        serviced = _blkio_table(directory, f"{prefix}.io_serviced_recursive")
        if service_bytes or serviced:
            break
    return pruned({"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced})


def _hugetlb(directory: str | None) -> dict[str, Any]:
    if directory is None:
        return {}
    out = {}
    for size in hugepage_sizes():
        prefix = f"hugetlb.{size}"
        out[size] = pruned(
            {
                "usage": read_int(directory, f"{prefix}.usage_in_bytes"),
                "max": read_int(directory, f"{prefix}.max_usage_in_bytes"),
                "failcnt": read_int(directory, f"{prefix}.failcnt"),
            },
            "failcnt",
        )
    return out
