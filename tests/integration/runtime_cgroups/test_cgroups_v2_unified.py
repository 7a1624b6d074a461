"""cgroup v2 manager on what this host offers: the controller-less cgroup2 at /sys/fs/cgroup/unified."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import Unsupported
from berth.runtime.linux.cgroups.v2 import V2Manager
from tests.integration.runtime_cgroups.children import (
    TICKER,
    check_freeze_and_thaw,
    go,
    stop,
    unique_name,
    waiting_child,
)

UNIFIED = "/sys/fs/cgroup/unified"

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        os.geteuid() != 0 or not Path(UNIFIED, "cgroup.procs").exists(),
        reason="needs root and a cgroup2 mount",
    ),
]


@pytest.fixture(autouse=True)
def restore_root_controllers() -> Iterator[None]:
    """create() enables the root's free controllers for its children (as runc does); put them back."""
    control = Path(UNIFIED, "cgroup.subtree_control")
    before = set(control.read_text().split())
    yield
    for controller in set(control.read_text().split()) - before:
        control.write_text(f"-{controller}")


@pytest.fixture
def manager() -> Iterator[V2Manager]:
    mgr = V2Manager.open(unique_name(), mountpoint=UNIFIED)
    mgr.create()
    try:
        yield mgr
    finally:
        mgr.destroy()


def test_create_lands_below_the_parent_of_our_cgroup_and_destroy_removes_it() -> None:
    mgr = V2Manager.open(unique_name(), mountpoint=UNIFIED)
    mgr.create()
    try:
        assert Path(mgr.path).parent == Path(UNIFIED)  # we sit in the root of this hierarchy
        assert (Path(mgr.path) / "cgroup.freeze").exists()
    finally:
        mgr.destroy()
    assert not Path(mgr.path).exists()


def test_add_process_freeze_thaw(manager: V2Manager) -> None:
    child = waiting_child(TICKER)
    try:
        manager.add_process(child.pid)
        assert manager.pids() == [child.pid]
        assert f"0::/{Path(manager.path).name}" in Path(f"/proc/{child.pid}/cgroup").read_text()
        go(child)
        check_freeze_and_thaw(manager, child)
    finally:
        stop(child)


def test_stats_without_controllers_still_has_cpu(manager: V2Manager) -> None:
    child = waiting_child(
        "total = sum(range(2_000_000))\nprint('done', flush=True)\nimport sys\nsys.stdin.readline()"
    )
    try:
        manager.add_process(child.pid)
        go(child)
        assert child.stdout is not None and child.stdout.readline() == "done\n"
        stats = manager.stats()
    finally:
        stop(child)
    assert stats["cpu"]["usage"]["total"] > 0  # cpu.stat exists in every v2 cgroup
    assert manager.oom_kill_count() == 0


def test_a_controller_this_hierarchy_lacks_is_named(manager: V2Manager) -> None:
    if "pids" in Path(UNIFIED, "cgroup.controllers").read_text().split():
        pytest.skip("pids is available on this cgroup2 mount")
    with pytest.raises(Unsupported, match=r"^linux\.resources\.pids\.limit: .*pids\.max"):
        manager.set_resources({"pids": {"limit": 5}})


def test_hugetlb_limit_when_the_controller_is_free_for_v2(manager: V2Manager) -> None:
    if "hugetlb" not in Path(UNIFIED, "cgroup.controllers").read_text().split():
        pytest.skip("hugetlb is not available on this cgroup2 mount")
    manager.set_resources({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}]})
    assert Path(manager.path, "hugetlb.2MB.max").read_text() == f"{4 << 21}\n"
