"""cgroup v1: linux.resources -> (controller, file, value) writes, and the device rule syntax."""

from __future__ import annotations

import re
from typing import Any

import pytest

from berth.errors import InvalidArgument
from berth.runtime.linux.cgroups.devices import allows_everything, parse_rules, v1_writes
from berth.runtime.linux.cgroups.files import Write
from berth.runtime.linux.cgroups.v1_resources import translate


def every_file(_controller: str, _name: str) -> bool:
    return True


def files(resources: dict[str, Any], exists: Any = every_file) -> list[tuple[str, str, str]]:
    return [(w.controller, w.file, w.value) for w in translate(resources, exists)]


def test_memory_writes() -> None:
    out = files(
        {
            "memory": {
                "limit": 64 << 20,
                "swap": 128 << 20,
                "reservation": 32 << 20,
                "swappiness": 0,
                "disableOOMKiller": True,
                "useHierarchy": True,
            }
        }
    )
    assert out == [
        ("memory", "memory.limit_in_bytes", str(64 << 20)),
        ("memory", "memory.memsw.limit_in_bytes", str(128 << 20)),
        ("memory", "memory.soft_limit_in_bytes", str(32 << 20)),
        ("memory", "memory.swappiness", "0"),
        ("memory", "memory.oom_control", "1"),
        ("memory", "memory.use_hierarchy", "1"),
    ]


def test_memory_limit_may_trade_places_with_swap() -> None:
    limit = translate({"memory": {"limit": 1 << 30, "swap": 2 << 30}}, every_file)[0]
    assert limit.swap_with_next_on_einval
    assert not translate({"memory": {"limit": 1 << 30}}, every_file)[0].swap_with_next_on_einval


def test_unlimited_memory_also_unlimits_swap_when_the_kernel_accounts_swap() -> None:
    assert files({"memory": {"limit": -1}})[1] == ("memory", "memory.memsw.limit_in_bytes", "-1")
    assert files({"memory": {"limit": -1}}, lambda c, f: f != "memory.memsw.limit_in_bytes") == [
        ("memory", "memory.limit_in_bytes", "-1")
    ]


def test_kernel_memory_only_where_the_kernel_still_has_the_file() -> None:
    assert files({"memory": {"kernel": 1 << 20}}) == [("memory", "memory.kmem.limit_in_bytes", str(1 << 20))]
    assert files({"memory": {"kernel": 1 << 20}}, lambda c, f: "kmem" not in f) == []


def test_cpu_writes() -> None:
    out = files(
        {
            "cpu": {
                "shares": 512,
                "quota": 20000,
                "period": 50000,
                "realtimeRuntime": 1000,
                "realtimePeriod": 10000,
                "cpus": "0",
                "mems": "0",
                "idle": 1,
            }
        }
    )
    assert out == [
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "50000"),
        ("cpu", "cpu.cfs_quota_us", "20000"),
        ("cpu", "cpu.rt_period_us", "10000"),
        ("cpu", "cpu.rt_runtime_us", "1000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.idle", "1"),
    ]


def test_pids_blkio_hugetlb_network() -> None:
    out = files(
        {
            "pids": {"limit": 0},
            "blockIO": {
                "weight": 300,
                "leafWeight": 200,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 4096}],
            },
            "hugepageLimits": [{"pageSize": "1GB", "limit": 0}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        },
        lambda c, f: f != "blkio.weight",  # a BFQ kernel
    )
    assert out == [
        ("pids", "pids.max", "max"),
        ("blkio", "blkio.bfq.weight", "300"),
        ("blkio", "blkio.leaf_weight", "200"),
        ("blkio", "blkio.bfq.weight_device", "8:0 500"),
        ("blkio", "blkio.throttle.write_bps_device", "8:0 4096"),
        ("hugetlb", "hugetlb.1GB.limit_in_bytes", "0"),
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]


def test_unified_is_refused_on_v1() -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.unified: needs cgroup v2"):
        translate({"unified": {"memory.high": "1"}}, every_file)


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"memory": {"limit": 100, "swap": 50}}, "memory.swap"),
        ({"memory": {"disableOOMKiller": "yes"}}, "memory.disableOOMKiller"),
        ({"cpu": {"realtimeRuntime": 2000, "realtimePeriod": 1000}}, "cpu.realtimeRuntime"),
        ({"cpu": {"idle": 2}}, "cpu.idle"),
        ({"cpu": {"mems": "3-1"}}, "cpu.mems"),
        ({"blockIO": {"leafWeight": 1001}}, "blockIO.leafWeight"),
        ({"network": {"priorities": [{"name": "", "priority": 1}]}}, "network.priorities[0].name"),
        ({"devices": [{"allow": True, "type": "x"}]}, "devices[0].type"),
        ({"devices": [{"allow": True, "access": "rx"}]}, "devices[0].access"),
        ({"devices": [{"type": "c"}]}, "devices[0].allow"),
    ],
)
def test_bad_values_name_the_field(resources: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\." + re.escape(field)):
        translate(resources, every_file)


def test_device_rules_in_kernel_syntax_and_order() -> None:
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mwr"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
        {"allow": False, "type": "b", "major": -1, "minor": -1, "access": "m"},
    ]
    assert v1_writes(rules) == [
        Write("devices", "devices.deny", "a", "devices[0]"),
        Write("devices", "devices.allow", "c 1:3 rwm", "devices[1]"),
        Write("devices", "devices.allow", "c 136:* rw", "devices[2]"),
        Write("devices", "devices.deny", "b *:* m", "devices[3]"),
    ]


def test_allows_everything() -> None:
    assert allows_everything(parse_rules([]))
    assert allows_everything(parse_rules([{"allow": False}, {"allow": True, "access": "rwm"}]))
    assert not allows_everything(parse_rules([{"allow": True}, {"allow": False, "type": "c", "major": 1}]))
    assert not allows_everything(parse_rules([{"allow": True, "type": "c"}]))
