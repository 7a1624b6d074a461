"""cgroup v2: linux.resources -> files, against a temporary directory standing in for the cgroup."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from berth.errors import InvalidArgument, Unsupported
from berth.runtime.linux.cgroups import files
from berth.runtime.linux.cgroups.v2 import V2Manager
from berth.runtime.linux.cgroups.v2_resources import cpu_weight, io_weight, swap_max

FILES = [
    "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpu.idle",
    "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max",
    "memory.high", "cgroup.events", "memory.events",
]  # fmt: skip


@pytest.fixture
def cgroup(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).write_text("")
    return tmp_path


def apply(cgroup: Path, resources: dict[str, Any]) -> dict[str, str]:
    V2Manager(str(cgroup), mountpoint=str(cgroup.parent)).set_resources(resources)
    return {p.name: p.read_text() for p in cgroup.iterdir() if p.read_text()}


def test_memory_limit_reservation_and_swap_is_memory_plus_swap(cgroup: Path) -> None:
    out = apply(cgroup, {"memory": {"limit": 100 << 20, "swap": 300 << 20, "reservation": 50 << 20}})
    assert out == {
        "memory.max": str(100 << 20),
        "memory.swap.max": str(200 << 20),
        "memory.low": str(50 << 20),
    }


def test_swap_equal_to_limit_means_no_swap(cgroup: Path) -> None:
    out = apply(cgroup, {"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    assert out["memory.swap.max"] == "0"


def test_unlimited_memory_without_swap_means_unlimited_swap(cgroup: Path) -> None:
    assert apply(cgroup, {"memory": {"limit": -1}}) == {"memory.max": "max", "memory.swap.max": "max"}


def test_swap_conversion_rules() -> None:
    assert swap_max(0, 100) == 0  # unset stays unset
    assert swap_max(-1, 100) == -1
    assert swap_max(0, -1) == -1
    assert swap_max(150, 100) == 50
    with pytest.raises(InvalidArgument, match=r"memory\.swap: .*below memory\.limit"):
        swap_max(50, 100)
    with pytest.raises(InvalidArgument, match=r"needs a memory\.limit"):
        swap_max(50, 0)


def test_v1_only_memory_knobs_are_ignored_on_v2(cgroup: Path) -> None:
    out = apply(cgroup, {"memory": {"swappiness": 10, "disableOOMKiller": True, "kernel": 1 << 20}})
    assert out == {}


def test_cpu_shares_become_weight_and_quota_period_become_cpu_max(cgroup: Path) -> None:
    out = apply(
        cgroup, {"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"}}
    )
    assert out == {
        "cpu.weight": "100",
        "cpu.max": "50000 100000",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
    }


def test_unlimited_quota_is_max(cgroup: Path) -> None:
    assert apply(cgroup, {"cpu": {"quota": -1, "period": 20000}})["cpu.max"] == "max 20000"
    assert apply(cgroup, {"cpu": {"quota": 20000}})["cpu.max"] == "20000"


def test_cpu_weight_conversion_hits_the_documented_points() -> None:
    assert [cpu_weight(s) for s in (2, 1024, 262144)] == [1, 100, 10000]
    weights = [cpu_weight(s) for s in range(2, 262145, 997)]
    assert weights == sorted(weights)


def test_blkio_weight_conversion() -> None:
    assert [io_weight(w) for w in (10, 500, 1000)] == [1, 4950, 10000]


def test_io_weight_and_io_max(cgroup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, str]] = []
    monkeypatch.setattr(files, "write_file", lambda _d, name, value: written.append((name, value)))
    apply(
        cgroup,
        {
            "blockIO": {
                "weight": 1000,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}],
            }
        },
    )
    assert written == [
        ("io.weight", "default 10000"),
        ("io.weight", "8:0 1"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:16 wiops=max"),
    ]


def test_bfq_takes_the_v1_weight_scale(cgroup: Path) -> None:
    (cgroup / "io.bfq.weight").write_text("")
    assert apply(cgroup, {"blockIO": {"weight": 300}})["io.bfq.weight"] == "300"


def test_pids_limit(cgroup: Path) -> None:
    assert apply(cgroup, {"pids": {"limit": 42}}) == {"pids.max": "42"}
    assert apply(cgroup, {"pids": {"limit": -1}}) == {"pids.max": "max"}


def test_hugepages_and_unified_last(cgroup: Path) -> None:
    out = apply(
        cgroup,
        {
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}],
            "memory": {"limit": 1 << 30},
            "unified": {"memory.max": "2147483648", "memory.high": "1073741824"},
        },
    )
    assert out == {"hugetlb.2MB.max": str(4 << 21), "memory.max": "2147483648", "memory.high": "1073741824"}


def test_missing_controller_file_names_the_field(cgroup: Path) -> None:
    (cgroup / "pids.max").unlink()
    with pytest.raises(Unsupported, match=r"^linux\.resources\.pids\.limit: .*pids\.max"):
        apply(cgroup, {"pids": {"limit": 3}})


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"cpu": {"shares": 1}}, "cpu.shares"),
        ({"cpu": {"quota": 999}}, "cpu.quota"),
        ({"cpu": {"period": 2_000_000}}, "cpu.period"),
        ({"cpu": {"cpus": "0-a"}}, "cpu.cpus"),
        ({"memory": {"limit": -2}}, "memory.limit"),
        ({"memory": {"swappiness": 101}}, "memory.swappiness"),
        ({"blockIO": {"weight": 5}}, "blockIO.weight"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}},
            "blockIO.throttleReadBpsDevice[0].minor",
        ),
        ({"hugepageLimits": [{"pageSize": "2 MB", "limit": 1}]}, "hugepageLimits[0]"),
        ({"unified": {"../memory.max": "1"}}, "unified"),
        ({"pids": {"limit": "10"}}, "pids.limit"),
    ],
)
def test_bad_values_fail_naming_the_field_and_write_nothing(
    cgroup: Path, resources: dict[str, Any], field: str
) -> None:
    # A valid setting first in the same call: nothing at all may be written.
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\." + re.escape(field)):
        apply(cgroup, {"pids": {"limit": 5}, **resources})
    assert all(p.read_text() == "" for p in cgroup.iterdir())


def test_restrictive_device_rules_need_a_program_loader(cgroup: Path) -> None:
    with pytest.raises(Unsupported, match=r"^linux\.resources\.devices: .*bpf\(2\) program loader"):
        apply(cgroup, {"pids": {"limit": 3}, "devices": [{"allow": False, "access": "rwm"}]})
    assert (cgroup / "pids.max").read_text() == ""  # refused before anything was written
    assert apply(cgroup, {"devices": [{"allow": False}, {"allow": True, "access": "rwm"}]}) == {}


def test_device_rules_go_to_the_loader_as_an_ebpf_program(cgroup: Path) -> None:
    loaded: list[tuple[bytes, str]] = []
    mgr = V2Manager(str(cgroup), mountpoint=str(cgroup.parent))
    mgr.set_device_filter_loader(lambda program, path: loaded.append((program, path)))
    mgr.set_resources({"devices": [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3}]})
    ((program, path),) = loaded
    assert path == str(cgroup) and len(program) % 8 == 0 and program
    mgr.set_resources({"pids": {"limit": 3}})  # no devices given: the program stays
    assert len(loaded) == 1
    mgr.set_resources({"devices": [{"allow": True}]})  # allow-all replaces the earlier program
    assert len(loaded) == 2


def test_realtime_and_network_are_unsupported(cgroup: Path) -> None:
    with pytest.raises(Unsupported, match="realtime"):
        apply(cgroup, {"cpu": {"realtimeRuntime": 1000}})
    with pytest.raises(Unsupported, match="net_cls"):
        apply(cgroup, {"network": {"classID": 1}})


def test_frozen_and_oom_counters_come_from_event_files(cgroup: Path) -> None:
    mgr = V2Manager(str(cgroup), mountpoint=str(cgroup.parent))
    (cgroup / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    (cgroup / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
    assert mgr.is_frozen()
    assert mgr.oom_kill_count() == 2
