"""runtime-spec ``linux.resources`` translated to cgroup v1 file writes (config-linux.md).

Pure translation: ``exists(controller, file)`` tells which optional files this kernel has, so the
result can be checked without a cgroup.
"""

from __future__ import annotations

from berth.runtime.linux.cgroups import devices
from berth.runtime.linux.cgroups.files import Write
from berth.runtime.linux.cgroups.limits import (
    INT64_MAX,
    UINT32_MAX,
    block_io_weight,
    boolean,
    cpu_list,
    cpu_shares_quota_period,
    device_number,
    fail,
    integer,
    items,
    limit_text,
    page_size,
    required_integer,
    section,
)

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Exists = Callable[[str, str], bool]


def translate(resources: Mapping[str, Any], exists: Exists) -> list[Write]:
    """Every write ``resources`` asks for, in a safe order; raises before returning on a bad value."""
    if resources.get("unified"):
        raise fail("unified", "needs cgroup v2, but this host uses cgroup v1")
    return [
        *devices.v1_writes(items(resources, "devices", "devices")),
        *_memory(section(resources, "memory"), exists),
        *_cpu(section(resources, "cpu")),
        *pids_writes(section(resources, "pids")),
        *_block_io(section(resources, "blockIO"), exists),
        *hugepage_writes(resources),
        *_network(section(resources, "network")),
    ]


def _memory(mem: Mapping[str, Any], exists: Exists) -> list[Write]:
    limit = integer(mem, "limit", "memory.limit", -1, INT64_MAX)
    swap = integer(mem, "swap", "memory.swap", -1, INT64_MAX)
    reservation = integer(mem, "reservation", "memory.reservation", -1, INT64_MAX)
    kernel = integer(mem, "kernel", "memory.kernel", -1, INT64_MAX)
    kernel_tcp = integer(mem, "kernelTCP", "memory.kernelTCP", -1, INT64_MAX)
    swappiness = integer(mem, "swappiness", "memory.swappiness", 0, 100)
    no_oom_killer = boolean(mem, "disableOOMKiller", "memory.disableOOMKiller")
    hierarchy = boolean(mem, "useHierarchy", "memory.useHierarchy")
    if limit and swap and limit > 0 and 0 < swap < limit:
        raise fail("memory.swap", f"memory+swap limit {swap} is below memory.limit {limit}")
    # "swap" is memory+swap in v1; an unlimited memory with no swap given means both unlimited.
    if limit == -1 and not swap and exists("memory", "memory.memsw.limit_in_bytes"):
        swap = -1
    writes = []
    if limit:
        # memory.limit <= memory.memsw.limit at all times: when raising past the current memsw
        # limit the kernel refuses (EINVAL) and the swap limit has to go first.
        writes.append(Write("memory", "memory.limit_in_bytes", limit_text(limit), "memory.limit", bool(swap)))
    if swap:
        writes.append(Write("memory", "memory.memsw.limit_in_bytes", limit_text(swap), "memory.swap"))
    if reservation:
        writes.append(
            Write("memory", "memory.soft_limit_in_bytes", limit_text(reservation), "memory.reservation")
        )
    # kernel and kernelTCP are deprecated by the spec; kernels from 6.1 on dropped kmem.limit_in_bytes.
    if kernel and exists("memory", "memory.kmem.limit_in_bytes"):
        writes.append(Write("memory", "memory.kmem.limit_in_bytes", limit_text(kernel), "memory.kernel"))
    if kernel_tcp and exists("memory", "memory.kmem.tcp.limit_in_bytes"):
        writes.append(
            Write("memory", "memory.kmem.tcp.limit_in_bytes", limit_text(kernel_tcp), "memory.kernelTCP")
        )
    if swappiness is not None:
        writes.append(Write("memory", "memory.swappiness", str(swappiness), "memory.swappiness"))
    if no_oom_killer:
        writes.append(Write("memory", "memory.oom_control", "1", "memory.disableOOMKiller"))
    if hierarchy is not None:
        writes.append(Write("memory", "memory.use_hierarchy", str(int(hierarchy)), "memory.useHierarchy"))
    return writes


def _cpu(cpu: Mapping[str, Any]) -> list[Write]:
    shares, quota, period = cpu_shares_quota_period(cpu)
    rt_runtime = integer(cpu, "realtimeRuntime", "cpu.realtimeRuntime", -1, INT64_MAX)
    rt_period = integer(cpu, "realtimePeriod", "cpu.realtimePeriod", 0, INT64_MAX)
    if rt_runtime and rt_period and rt_runtime > rt_period:
        raise fail("cpu.realtimeRuntime", f"{rt_runtime} exceeds realtimePeriod {rt_period}")
    cpus = cpu_list(cpu, "cpus", "cpu.cpus")
    mems = cpu_list(cpu, "mems", "cpu.mems")
    idle = integer(cpu, "idle", "cpu.idle", 0, 1)
    writes = []
    if shares:
        writes.append(Write("cpu", "cpu.shares", str(shares), "cpu.shares"))
    # The period is written first; the kernel may refuse it against the current quota, then the
    # quota goes first.
    if period:
        writes.append(Write("cpu", "cpu.cfs_period_us", str(period), "cpu.period", bool(quota)))
    if quota:
        writes.append(Write("cpu", "cpu.cfs_quota_us", str(quota), "cpu.quota"))
    if rt_period:
        writes.append(
            Write("cpu", "cpu.rt_period_us", str(rt_period), "cpu.realtimePeriod", bool(rt_runtime))
        )
    if rt_runtime:
        writes.append(Write("cpu", "cpu.rt_runtime_us", str(rt_runtime), "cpu.realtimeRuntime"))
    if cpus:
        writes.append(Write("cpuset", "cpuset.cpus", cpus, "cpu.cpus"))
    if mems:
        writes.append(Write("cpuset", "cpuset.mems", mems, "cpu.mems"))
    if idle is not None:
        writes.append(Write("cpu", "cpu.idle", str(idle), "cpu.idle"))
    return writes


def pids_writes(pids: Mapping[str, Any]) -> list[Write]:
    """``pids.limit`` as a write to ``pids.max`` (the same file on v1 and v2)."""
    limit = integer(pids, "limit", "pids.limit", -(2**63), INT64_MAX)
    if limit is None:
        return []
    # config-linux.md#pids: zero or a negative value means no limit.
    return [Write("pids", "pids.max", str(limit) if limit > 0 else "max", "pids.limit")]


def _block_io(bio: Mapping[str, Any], exists: Exists) -> list[Write]:
    writes = []
    # Older kernels (CFQ) have blkio.weight; with BFQ the file is blkio.bfq.weight.
    weight_file = "blkio.weight" if exists("blkio", "blkio.weight") else "blkio.bfq.weight"
    weight = block_io_weight(bio, "weight", "blockIO.weight")
    leaf = block_io_weight(bio, "leafWeight", "blockIO.leafWeight")
    if weight:
        writes.append(Write("blkio", weight_file, str(weight), "blockIO.weight"))
    if leaf:
        writes.append(Write("blkio", "blkio.leaf_weight", str(leaf), "blockIO.leafWeight"))
    for i, dev in enumerate(items(bio, "weightDevice", "blockIO.weightDevice")):
        field = f"blockIO.weightDevice[{i}]"
        number = device_number(dev, field)
        w = block_io_weight(dev, "weight", f"{field}.weight")
        lw = block_io_weight(dev, "leafWeight", f"{field}.leafWeight")
        if w:
            writes.append(Write("blkio", f"{weight_file}_device", f"{number} {w}", f"{field}.weight"))
        if lw:
            writes.append(Write("blkio", "blkio.leaf_weight_device", f"{number} {lw}", f"{field}.leafWeight"))
    for key, file in _THROTTLE_FILES.items():
        for i, dev in enumerate(items(bio, key, f"blockIO.{key}")):
            field = f"blockIO.{key}[{i}]"
            number = device_number(dev, field)
            rate = required_integer(dev, "rate", f"{field}.rate", 0, 2**64 - 1)
            writes.append(Write("blkio", file, f"{number} {rate}", field))
    return writes


_THROTTLE_FILES = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}


def hugepage_writes(resources: Mapping[str, Any], limit_file: str = "limit_in_bytes") -> list[Write]:
    """hugepageLimits as writes to ``hugetlb.<size>.<limit_file>`` (v1 ``limit_in_bytes``, v2 ``max``)."""
    writes = []
    for i, entry in enumerate(items(resources, "hugepageLimits", "hugepageLimits")):
        field = f"hugepageLimits[{i}]"
        size = page_size(entry, field)
        limit = required_integer(entry, "limit", f"{field}.limit", 0, 2**64 - 1)
        writes.append(Write("hugetlb", f"hugetlb.{size}.{limit_file}", str(limit), field))
    return writes


def _network(net: Mapping[str, Any]) -> list[Write]:
    writes = []
    class_id = integer(net, "classID", "network.classID", 0, UINT32_MAX)
    if class_id is not None:
        writes.append(Write("net_cls", "net_cls.classid", str(class_id), "network.classID"))
    for i, prio in enumerate(items(net, "priorities", "network.priorities")):
        field = f"network.priorities[{i}]"
        name = prio.get("name")
        if not isinstance(name, str) or not name or " " in name:
            raise fail(f"{field}.name", f"{name!r} is not an interface name")
        value = required_integer(prio, "priority", f"{field}.priority", 0, UINT32_MAX)
        writes.append(Write("net_prio", "net_prio.ifpriomap", f"{name} {value}", field))
    return writes
