"""cgroup v1 manager against the real kernel: limits are enforced on real processes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import InvalidArgument, Unsupported
from berth.runtime.linux.cgroups import host, load_manager, open_manager
from berth.runtime.linux.cgroups.v1 import V1Manager
from tests.integration.runtime_cgroups.children import (
    TICKER,
    check_freeze_and_thaw,
    drain,
    go,
    run_in,
    stop,
    unique_name,
    waiting_child,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path("/sys/fs/cgroup/memory").is_dir() or host.is_unified(),
        reason="needs root on a cgroup v1 host",
    ),
]


@pytest.fixture
def manager() -> Iterator[V1Manager]:
    mgr = open_manager(unique_name(), "unused")
    assert isinstance(mgr, V1Manager)
    mgr.create()
    try:
        yield mgr
    finally:
        mgr.destroy()


def test_relative_path_lands_below_our_own_cgroup_in_every_hierarchy(manager: V1Manager) -> None:
    own = host.own_cgroups()
    for controller in ("memory", "pids", "freezer", "cpu"):
        expected = Path("/sys/fs/cgroup", controller, own[controller].lstrip("/"))
        assert Path(manager.paths[controller]).parent == expected
        assert Path(manager.paths[controller]).is_dir()


def test_a_process_adds_itself_to_every_hierarchy(manager: V1Manager) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked child has one thread, as add_self requires
        try:
            manager.add_self()
            os.write(write, Path("/proc/self/cgroup").read_bytes())
        finally:
            os._exit(0)
    os.close(write)
    try:
        os.waitpid(pid, 0)  # what it wrote fits in the pipe
        listed = drain(read).decode()
    finally:
        os.close(read)
    paths = {fields[1]: fields[2] for fields in (line.split(":", 2) for line in listed.splitlines())}
    for controller in ("memory", "pids", "freezer"):
        assert manager.paths[controller].endswith(paths[controller])
    assert manager.pids() == []  # the child has exited


def test_memory_limit_oom_kills_a_process_allocating_past_it(manager: V1Manager) -> None:
    manager.set_resources({"memory": {"limit": 48 << 20, "swap": 48 << 20}})
    assert manager.oom_kill_count() == 0
    returncode, out, _ = run_in(manager, "data = b'x' * (256 << 20)\nprint('survived')", timeout=60)
    assert returncode == -9 and "survived" not in out
    assert manager.oom_kill_count() >= 1
    memory = manager.stats()["memory"]
    assert memory["usage"]["max"] == 48 << 20  # usage peaked at the limit


FORK_UNTIL_REFUSED = """
import os
r, w = os.pipe()
kids = []
try:
    while len(kids) < 50:
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        kids.append(pid)
except BlockingIOError:
    print("refused after", len(kids))
os.close(w)
for kid in kids:
    os.waitpid(kid, 0)
"""


def test_pids_limit_makes_fork_fail(manager: V1Manager) -> None:
    manager.set_resources({"pids": {"limit": 4}})
    _, out, err = run_in(manager, FORK_UNTIL_REFUSED, timeout=60)
    assert out.strip() == "refused after 3", err  # the limit counts the forking process too


def test_freeze_stops_and_thaw_resumes_a_process(manager: V1Manager) -> None:
    child = waiting_child(TICKER)
    try:
        manager.add_process(child.pid)
        go(child)
        check_freeze_and_thaw(manager, child)
    finally:
        stop(child)


BUSY = """
import sys
total = 0
for i in range(3_000_000):
    total += i
hold = b"y" * (16 << 20)
print("ready", flush=True)
sys.stdin.readline()
"""


def test_stats_are_plausible(manager: V1Manager) -> None:
    manager.set_resources({"memory": {"limit": 256 << 20}, "pids": {"limit": 10}})
    child = waiting_child(BUSY)
    try:
        manager.add_process(child.pid)
        go(child)
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        stats = manager.stats()
        assert manager.pids() == [child.pid]
    finally:
        stop(child)
    assert stats["cpu"]["usage"]["total"] > 0
    assert stats["cpu"]["usage"]["user"] + stats["cpu"]["usage"]["kernel"] > 0
    assert len(stats["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert stats["memory"]["usage"]["usage"] >= 16 << 20
    assert stats["memory"]["usage"]["limit"] == 256 << 20
    assert stats["memory"]["raw"]["rss"] + stats["memory"]["raw"]["cache"] > 0
    assert stats["pids"] == {"current": 1, "limit": 10}
    assert {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"} <= set(stats)
    assert stats["cpuset"]["cpus"] == list(range(len(stats["cpu"]["usage"]["percpu"])))


DEVICES = """
for path in ("/dev/null", "/dev/zero"):
    try:
        open(path, "rb").close()
        print(path, "ok")
    except PermissionError:
        print(path, "denied")
"""


def test_device_rules_deny_all_but_the_allowed(manager: V1Manager) -> None:
    manager.set_resources(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            ]
        }
    )
    assert Path(manager.paths["devices"], "devices.list").read_text() == "c 1:3 rwm\n"
    _, out, _ = run_in(manager, DEVICES)
    assert out.split("\n")[:2] == ["/dev/null ok", "/dev/zero denied"]


def test_cpuset_and_cpu_files(manager: V1Manager) -> None:
    manager.set_resources(
        {"cpu": {"cpus": "0", "mems": "0", "shares": 512, "quota": 20000, "period": 100000}}
    )
    cpu = Path(manager.paths["cpu"])
    assert (cpu / "cpu.shares").read_text() == "512\n"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "20000\n"
    _, out, _ = run_in(manager, "import os\nprint(sorted(os.sched_getaffinity(0)))")
    assert out.strip() == "[0]"


def test_memory_update_raises_limit_past_memsw(manager: V1Manager) -> None:
    # Raising both limits past the current memsw limit needs memsw written first.
    manager.set_resources({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    manager.set_resources({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    mem = Path(manager.paths["memory"])
    assert (mem / "memory.limit_in_bytes").read_text() == f"{64 << 20}\n"
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == f"{128 << 20}\n"


def test_bad_value_changes_nothing(manager: V1Manager) -> None:
    pids_max = Path(manager.paths["pids"], "pids.max")
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.memory\.swappiness: 101 is out of range"):
        manager.set_resources({"pids": {"limit": 7}, "memory": {"swappiness": 101}})
    assert pids_max.read_text() == "max\n"


def test_kernel_refusal_names_the_field(manager: V1Manager) -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.cpu\.cpus: .*rejected"):
        manager.set_resources({"cpu": {"cpus": "0-4095"}})


def test_unmounted_controller_is_unsupported_and_named(manager: V1Manager) -> None:
    if "net_cls" in manager.paths:
        pytest.skip("net_cls is mounted here")
    with pytest.raises(Unsupported, match=r"^linux\.resources\.network\.classID: no net_cls"):
        manager.set_resources({"network": {"classID": 0x100001}})


def test_destroy_retries_while_a_killed_task_exits() -> None:
    mgr = open_manager(unique_name(), "unused")
    mgr.create()
    created = list(mgr.to_state()["created"])
    child = waiting_child("import time\ntime.sleep(60)")
    try:
        mgr.add_process(child.pid)
        child.kill()
        mgr.destroy()  # no wait(): the task may still be on its way out
    finally:
        stop(child)
        mgr.destroy()
    assert created and not any(Path(d).exists() for d in created)


def test_destroy_never_removes_a_directory_it_did_not_create() -> None:
    outer_name = unique_name()
    outer = open_manager(outer_name, "unused")
    outer.create()
    try:
        inner = open_manager(f"{outer_name}/ctr", "unused")
        inner.create()
        assert all(Path(d).name == "ctr" for d in inner.to_state()["created"])
        inner.destroy()
        inner.destroy()  # idempotent
        assert all(Path(d).is_dir() for d in outer.to_state()["created"])
    finally:
        outer.destroy()


def test_destroy_refuses_while_a_process_lives() -> None:
    mgr = open_manager(unique_name(), "unused")
    mgr.create()
    child = waiting_child("")
    try:
        mgr.add_process(child.pid)
        start = time.monotonic()
        with pytest.raises(Exception, match="cannot remove cgroup"):
            mgr.destroy()
        assert time.monotonic() - start < 30
    finally:
        stop(child)
        load_manager(mgr.to_state()).destroy()
