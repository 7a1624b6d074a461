"""runtime-spec ``linux.resources`` translated to cgroup v2 file writes.

The spec's fields are cgroup v1's; the conversions follow the ones runc and crun document
(runc docs/cgroup-v2.md, crun's crun.1 "CGROUP v2" section): ``memory.swap`` is memory+swap in v1 but
swap alone in ``memory.swap.max``; ``cpu.shares`` maps onto ``cpu.weight``; ``blockIO.weight`` onto
``io.weight``. ``unified`` entries are written last, so they override converted values.
"""

from __future__ import annotations

import math

from berth.errors import Unsupported
from berth.runtime.linux.cgroups import devices
from berth.runtime.linux.cgroups.files import Write, unified_writes
from berth.runtime.linux.cgroups.limits import (
    INT64_MAX,
    MAX_SHARES,
    MIN_SHARES,
    MIN_WEIGHT,
    block_io_weight,
    cpu_list,
    cpu_shares_quota_period,
    device_number,
    fail,
    integer,
    items,
    required_integer,
    section,
)
from berth.runtime.linux.cgroups.v1_resources import hugepage_writes, pids_writes

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Exists = Callable[[str, str], bool]


def device_rules(resources: Mapping[str, Any]) -> list[devices.DeviceRule] | None:
    """The checked device rules, or None when the resources do not mention devices."""
    if resources.get("devices") is None:
        return None
    return devices.parse_rules(items(resources, "devices", "devices"))


def translate(resources: Mapping[str, Any], exists: Exists) -> list[Write]:
    """Every file write ``resources`` asks for (device rules are a program: ``device_rules``);
    raises before returning on a bad or unsupported value."""
    net = section(resources, "network")
    if net.get("classID") is not None or net.get("priorities"):
        raise Unsupported("linux.resources.network: cgroup v2 has no net_cls or net_prio controller")
    return [
        *_memory(section(resources, "memory")),
        *_cpu(section(resources, "cpu")),
        *pids_writes(section(resources, "pids")),
        *_io(section(resources, "blockIO"), exists),
        *hugepage_writes(resources, "max"),
        *unified_writes(section(resources, "unified")),
    ]


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


def swap_max(swap: int, limit: int) -> int:
    """``memory.swap.max`` from the spec's memory+swap ``swap`` and ``limit`` (0 = unset, -1 = max)."""
    if limit == -1 and swap == 0:
        return -1  # unlimited memory with swap unset: unlimited swap too, as on v1
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise fail("memory.swap", "a swap limit needs a memory.limit")
    if swap < limit:
        raise fail("memory.swap", f"memory+swap limit {swap} is below memory.limit {limit}")
    return swap - limit


def _memory(mem: Mapping[str, Any]) -> list[Write]:
    limit = integer(mem, "limit", "memory.limit", -1, INT64_MAX) or 0
    swap = integer(mem, "swap", "memory.swap", -1, INT64_MAX) or 0
    reservation = integer(mem, "reservation", "memory.reservation", -1, INT64_MAX) or 0
    # Range-check the v1-only knobs; v2 has no per-cgroup swappiness, OOM-killer switch, kernel
    # memory limit or hierarchy switch, and like runc and crun we do not fail on them.
    integer(mem, "swappiness", "memory.swappiness", 0, 100)
    for key in ("kernel", "kernelTCP"):
        integer(mem, key, f"memory.{key}", -1, INT64_MAX)
    writes = []
    swap_only = swap_max(swap, limit)
    if swap_only != 0 or (swap > 0 and swap == limit):  # swap == limit: no swap at all
        writes.append(Write("memory", "memory.swap.max", _max(swap_only), "memory.swap"))
    if limit:
        writes.append(Write("memory", "memory.max", _max(limit), "memory.limit"))
    if reservation:
        writes.append(Write("memory", "memory.low", _max(reservation), "memory.reservation"))
    return writes


def cpu_weight(shares: int) -> int:
    """``cpu.weight`` (1..10000) for v1 ``cpu.shares`` (2..262144).

    The quadratic in log2(shares) that runc (opencontainers/cgroups) and crun adopted in 2025: it
    maps 2 -> 1, 1024 (the default) -> 100 (the default) and 262144 -> 10000, which the older linear
    formula did not (it gave 1024 -> 39).
    """
    if shares <= MIN_SHARES:
        return 1
    if shares >= MAX_SHARES:
        return 10000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612.0 - 7.0 / 34.0))


def _cpu(cpu: Mapping[str, Any]) -> list[Write]:
    shares, quota, period = cpu_shares_quota_period(cpu)
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise Unsupported("linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU budget")
    cpus = cpu_list(cpu, "cpus", "cpu.cpus")
    mems = cpu_list(cpu, "mems", "cpu.mems")
    idle = integer(cpu, "idle", "cpu.idle", 0, 1)
    writes = []
    if shares:
        writes.append(Write("cpu", "cpu.weight", str(cpu_weight(shares)), "cpu.shares"))
    if quota or period:
        # cpu.max is "$MAX $PERIOD"; the period alone may be left out to keep the current one.
        text = str(quota) if quota and quota > 0 else "max"
        writes.append(Write("cpu", "cpu.max", f"{text} {period}" if period else text, "cpu.quota"))
    if idle is not None:
        writes.append(Write("cpu", "cpu.idle", str(idle), "cpu.idle"))
    if cpus:
        writes.append(Write("cpuset", "cpuset.cpus", cpus, "cpu.cpus"))
    if mems:
        writes.append(Write("cpuset", "cpuset.mems", mems, "cpu.mems"))
    return writes


def io_weight(blkio_weight: int) -> int:
    """``io.weight`` (1..10000) for v1 ``blkio.weight`` (10..1000), the linear map runc uses."""
    return 1 + (blkio_weight - MIN_WEIGHT) * 9999 // 990


def _io(bio: Mapping[str, Any], exists: Exists) -> list[Write]:
    writes = []
    # With the BFQ scheduler io.bfq.weight takes v1's 10..1000 scale as is; else io.weight, converted.
    bfq = exists("io", "io.bfq.weight")
    weight = block_io_weight(bio, "weight", "blockIO.weight")
    block_io_weight(bio, "leafWeight", "blockIO.leafWeight")  # v2 has no leaf weights
    if weight:
        if bfq:
            writes.append(Write("io", "io.bfq.weight", str(weight), "blockIO.weight"))
        else:
            writes.append(Write("io", "io.weight", f"default {io_weight(weight)}", "blockIO.weight"))
    for i, dev in enumerate(items(bio, "weightDevice", "blockIO.weightDevice")):
        field = f"blockIO.weightDevice[{i}]"
        number = device_number(dev, field)
        w = block_io_weight(dev, "weight", f"{field}.weight")
        block_io_weight(dev, "leafWeight", f"{field}.leafWeight")
        if w:
            file, value = ("io.bfq.weight", w) if bfq else ("io.weight", io_weight(w))
            writes.append(Write("io", file, f"{number} {value}", f"{field}.weight"))
    for key, name in _IO_MAX_KEYS.items():
        for i, dev in enumerate(items(bio, key, f"blockIO.{key}")):
            field = f"blockIO.{key}[{i}]"
            number = device_number(dev, field)
            rate = required_integer(dev, "rate", f"{field}.rate", 0, 2**64 - 1)
            # io.max: a rate of 0 means no limit there, spelled "max".
            writes.append(Write("io", "io.max", f"{number} {name}={rate or 'max'}", field))
    return writes


_IO_MAX_KEYS = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}
