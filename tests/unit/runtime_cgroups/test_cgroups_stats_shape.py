"""Stats in runc's `events --stats` shape, from cgroup files laid out in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.runtime.linux.cgroups import stats_common, v1_stats, v2_stats


@pytest.fixture(autouse=True)
def two_page_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pages = tmp_path / "hugepages"
    for name in ("hugepages-2048kB", "hugepages-1048576kB"):
        (pages / name).mkdir(parents=True)
    monkeypatch.setattr(stats_common, "HUGEPAGES_DIR", str(pages))


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_hugepage_size_names() -> None:
    assert stats_common.hugepage_sizes() == ["1GB", "2MB"]


def test_v2_stats(tmp_path: Path) -> None:
    cg = write(
        tmp_path / "cg",
        {
            "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
            "nr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
            "memory.current": "4096\n",
            "memory.max": "max\n",
            "memory.swap.current": "1024\n",
            "memory.swap.max": "0\n",
            "memory.peak": "8192\n",
            "memory.stat": "anon 2048\nfile 1024\n",
            "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
            "pids.current": "3\n",
            "pids.max": "max\n",
            "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
            "hugetlb.2MB.current": "2097152\n",
            "hugetlb.2MB.events": "max 5\n",
            "cpuset.cpus.effective": "0-2,5\n",
        },
    )
    stats = v2_stats.stats(str(cg))
    assert stats["cpu"] == {
        "usage": {"total": 1_500_000, "kernel": 500_000, "user": 1_000_000},
        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 7000},
    }
    memory = stats["memory"]
    assert memory["cache"] == 1024 and memory["raw"] == {"anon": 2048, "file": 1024}
    assert memory["usage"] == {"limit": 2**64 - 1, "usage": 4096, "max": 8192, "failcnt": 2}
    assert memory["swap"]["usage"] == 4096 + 1024  # v1's meaning: memory+swap
    assert memory["swap"]["limit"] == 2**64 - 1  # unlimited memory makes memory+swap unlimited
    assert stats["pids"] == {"current": 3}  # runc omits an unlimited (zero) limit
    assert stats["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 100},
            {"major": 8, "op": "Write", "value": 200},
        ],
        "ioServicedRecursive": [
            {"major": 8, "op": "Read", "value": 1},
            {"major": 8, "op": "Write", "value": 2},
        ],
    }
    assert stats["hugetlb"] == {"2MB": {"usage": 2097152, "failcnt": 5}}
    assert stats["cpuset"] == {"cpus": [0, 1, 2, 5]}
    assert stats["intel_rdt"] == {} and stats["network_interfaces"] is None


def test_v1_stats(tmp_path: Path) -> None:
    acct = write(
        tmp_path / "cpuacct",
        {
            "cpuacct.usage": "3000\n",
            "cpuacct.usage_percpu": "1000 2000 \n",
            "cpuacct.usage_percpu_sys": "100 200 \n",
            "cpuacct.usage_percpu_user": "900 1800 \n",
            "cpuacct.stat": "user 3\nsystem 1\n",
        },
    )
    cpu = write(tmp_path / "cpu", {"cpu.stat": "nr_periods 2\nnr_throttled 0\nthrottled_time 0\n"})
    mem = write(
        tmp_path / "memory",
        {
            "memory.stat": "cache 10\nrss 20\n",
            "memory.limit_in_bytes": "1048576\n",
            "memory.usage_in_bytes": "30\n",
            "memory.max_usage_in_bytes": "40\n",
            "memory.failcnt": "0\n",
        },
    )
    blkio = write(
        tmp_path / "blkio",
        {"blkio.throttle.io_service_bytes_recursive": "254:0 Read 512\n254:0 Write 0\nTotal 512\n"},
    )
    pids = write(tmp_path / "pids", {"pids.current": "1\n", "pids.max": "10\n"})
    cpuset = write(
        tmp_path / "cpuset",
        {
            "cpuset.cpus": "0-1\n",
            "cpuset.mems": "0\n",
            "cpuset.sched_load_balance": "1\n",
            "cpuset.cpu_exclusive": "0\n",
        },
    )
    dirs = {"cpuacct": acct, "cpu": cpu, "memory": mem, "blkio": blkio, "pids": pids, "cpuset": cpuset}
    stats = v1_stats.stats(lambda c: str(dirs[c]) if c in dirs else None)
    ns_per_tick = v1_stats._NS_PER_TICK
    assert stats["cpu"]["usage"] == {
        "total": 3000,
        "percpu": [1000, 2000],
        "percpu_kernel": [100, 200],
        "percpu_user": [900, 1800],
        "kernel": 1 * ns_per_tick,
        "user": 3 * ns_per_tick,
    }
    assert stats["cpu"]["throttling"] == {"periods": 2}
    assert stats["memory"]["usage"] == {"limit": 1048576, "usage": 30, "max": 40, "failcnt": 0}
    assert stats["memory"]["swap"] == {"limit": 0, "failcnt": 0}  # no memsw files: swap not accounted
    assert stats["memory"]["cache"] == 10
    assert stats["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 254, "op": "Read", "value": 512},
            {"major": 254, "op": "Write"},
        ]
    }
    assert stats["pids"] == {"current": 1, "limit": 10}
    assert stats["hugetlb"] == {}  # hierarchy not mounted
    cpuset_stats = stats["cpuset"]
    assert cpuset_stats["cpus"] == [0, 1] and cpuset_stats["mems"] == [0]
    assert cpuset_stats["sched_load_balance"] == 1 and cpuset_stats["cpu_exclusive"] == 0
