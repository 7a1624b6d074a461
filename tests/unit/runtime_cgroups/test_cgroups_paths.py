"""Where a cgroupsPath lands (runc's rules), host detection from mountinfo, and saved state."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from berth.errors import BerthError, InvalidArgument
from berth.runtime.linux.cgroups import files, host, load_manager
from berth.runtime.linux.cgroups.files import Write, apply_writes
from berth.runtime.linux.cgroups.v1 import V1Manager
from berth.runtime.linux.cgroups.v2 import V2Manager

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:40 / /mnt/my\\040dir rw - ext4 /dev/vda rw
"""


def test_mountinfo_parsing(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    found = host.mounted_hierarchies(str(tmp_path / "mountinfo"))
    assert [(h.mountpoint, h.root, h.controllers, h.version) for h in found] == [
        ("/sys/fs/cgroup/cpu,cpuacct", "/", ("cpu", "cpuacct"), 1),
        ("/sys/fs/cgroup/memory", "/docker/abc", ("memory",), 1),
        ("/sys/fs/cgroup/systemd", "/", ("name=systemd",), 1),
        ("/sys/fs/cgroup/unified", "/", (), 2),
    ]


def test_this_host_is_v1_with_a_unified_side_mount() -> None:
    if not Path("/sys/fs/cgroup/memory").is_dir():
        pytest.skip("not the cgroup v1 host these tests describe")
    assert not host.is_unified()
    assert "memory" in host.own_cgroups()


@pytest.mark.parametrize(
    ("given", "clean"),
    [("a/b", "a/b"), ("../../etc", "etc"), ("/x/../../y", "/y"), ("/a//b/", "/a/b"), ("", "")],
)
def test_cgroups_path_cannot_climb_out(given: str, clean: str) -> None:
    assert host.clean_cgroups_path(given) == clean


def hierarchies() -> list[host.Hierarchy]:
    return [
        host.Hierarchy("/cg/cpu,cpuacct", "/", ("cpu", "cpuacct"), 1),
        host.Hierarchy("/cg/memory", "/", ("memory",), 1),
        host.Hierarchy("/cg/unified", "/", (), 2),
    ]


def test_absolute_v1_path_starts_at_each_hierarchy_root() -> None:
    mgr = V1Manager.open("/machine/ctr", hierarchies())
    assert mgr.paths == {
        "cpu": "/cg/cpu,cpuacct/machine/ctr",
        "cpuacct": "/cg/cpu,cpuacct/machine/ctr",
        "memory": "/cg/memory/machine/ctr",
    }


def test_relative_v1_path_is_below_our_own_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        host, "own_cgroups", lambda: {"cpu": "/", "cpuacct": "/", "memory": "/job/7", "": "/"}
    )
    mgr = V1Manager.open("ctr", hierarchies())
    assert mgr.paths["memory"] == "/cg/memory/job/7/ctr"
    assert mgr.paths["cpu"] == "/cg/cpu,cpuacct/ctr"


def test_relative_v2_path_is_below_the_parent_of_our_own_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "own_cgroups", lambda: {"": "/user.slice/session-1.scope"})
    assert V2Manager.open("ctr", "/cg2").path == "/cg2/user.slice/ctr"
    assert V2Manager.open("/a/b", "/cg2").path == "/cg2/a/b"


def test_a_path_that_names_the_root_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="cgroupsPath"):
        V1Manager.open("/..", hierarchies())


def test_state_round_trip() -> None:
    v1 = V1Manager({"memory": "/cg/memory/x"}, ["/cg/memory/x"])
    v2 = V2Manager("/cg2/x", ["/cg2/x"], "/cg2")
    for mgr in (v1, v2):
        back = load_manager(json.loads(json.dumps(mgr.to_state())))
        assert back.to_state() == mgr.to_state() and back.version == mgr.version


@pytest.mark.parametrize("saved", [{}, {"version": 3}, {"version": 1, "paths": 5}, {"version": 2}])
def test_malformed_state_is_refused(saved: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="saved cgroup state"):
        load_manager(saved)


def test_writes_the_kernel_orders_retry_swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # memory.limit above the current memsw limit is refused until memsw has been raised.
    written: list[str] = []

    def fake_write(_directory: str, name: str, _value: str) -> None:
        if name == "memory.limit_in_bytes" and "memory.memsw.limit_in_bytes" not in written:
            raise OSError(errno.EINVAL, "Invalid argument")
        written.append(name)

    monkeypatch.setattr(files, "write_file", fake_write)
    writes = [
        Write("memory", "memory.limit_in_bytes", "2", "memory.limit", True),
        Write("memory", "memory.memsw.limit_in_bytes", "3", "memory.swap"),
    ]
    apply_writes(writes, lambda _c: str(tmp_path))
    assert written == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_a_refusal_that_swapping_does_not_cure_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_directory: str, name: str, _value: str) -> None:
        if name == "memory.limit_in_bytes":
            raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(files, "write_file", refuse)
    writes = [
        Write("memory", "memory.limit_in_bytes", "2", "memory.limit", True),
        Write("memory", "memory.memsw.limit_in_bytes", "3", "memory.swap"),
    ]
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.memory\.limit: .*rejected"):
        apply_writes(writes, lambda _c: str(tmp_path))


def test_a_vanished_cgroup_reads_as_empty_and_cannot_be_frozen(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    v1 = V1Manager({"freezer": gone, "memory": gone, "pids": gone}, [gone])
    v2 = V2Manager(gone, [gone], str(tmp_path))
    for mgr in (v1, v2):
        assert not mgr.is_frozen() and mgr.pids() == [] and mgr.oom_kill_count() == 0
        with pytest.raises(BerthError, match="gone"):
            mgr.freeze()
        mgr.destroy()  # nothing left to remove is not an error
