"""The leak check catches what Berth and its tests leave behind (else every test is hollow), and
nothing that other software on the host makes meanwhile (else a busy host fails the suite)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.engine import cgroup_path
from berth.engine.networks.netns import create_netns, remove_netns
from berth.image.snapshots import Snapshotter
from berth.runtime.linux.cgroups import open_manager
from berth.runtime.linux.cgroups.host import mounted_hierarchies
from tests.leakcheck import Snapshot, is_foreign

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.allow_leaks,  # each test judges its own leaks, then cleans up
]

_RUN_NETNS = "/run/netns"


def _mentioning(needle: str, before: Snapshot, temp_base: Path) -> list[str]:
    """The leaks since ``before`` that name ``needle``: concurrent test runs make Berth's things too."""
    return [line for line in Snapshot.take(temp_base).leaks_since(before) if needle in line]


@pytest.fixture
def temp_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp()


def test_detects_leaked_mount_and_process(tmp_path: Path, temp_base: Path) -> None:
    before = Snapshot.take(temp_base)
    target = tmp_path / "mnt"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "berth-leak-probe", str(target)], check=True)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        leaks = Snapshot.take(temp_base).leaks_since(before)
        assert f"leaked mounts: {target} tmpfs berth-leak-probe" in leaks
        assert any(line.startswith("leaked children:") and str(proc.pid) in line for line in leaks)
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["umount", str(target)], check=True)
    assert _mentioning(str(target), before, temp_base) == []
    assert _mentioning(f"leaked children: {proc.pid} ", before, temp_base) == []


@pytest.mark.parametrize("parent", ["", "tenant-parent"])
def test_detects_a_containers_cgroup(temp_base: Path, parent: str) -> None:
    # The cgroup berth-runtime makes for the engine's cgroupsPath, at the top of each hierarchy
    # or under a configured parent (which itself is not Berth's, and not reported).
    cid = secrets.token_hex(32)
    manager = open_manager(cgroup_path(parent, cid), cid)
    before = Snapshot.take(temp_base)
    manager.create()
    try:
        leaks = Snapshot.take(temp_base).leaks_since(before)
    finally:
        manager.destroy()
    ours = [line for line in leaks if cid in line or (parent and parent in line)]
    leaf = f"/berth-{cid}"
    assert ours and all(line.startswith("leaked cgroups: ") and line.endswith(leaf) for line in ours)
    assert _mentioning(cid, before, temp_base) == []


def test_detects_a_cgroup_running_the_sessions_process(temp_base: Path) -> None:
    # A leaked container's init is reparented to pytest, so its cgroup is still this session's;
    # a cgroup running someone else's process (pid 1 stands in) is another Berth's live container.
    cid = secrets.token_hex(32)
    manager = open_manager(cgroup_path("", cid), cid)
    before = Snapshot.take(temp_base)
    manager.create()
    proc = subprocess.Popen(["sleep", "30"])
    try:
        manager.add_process(proc.pid)
        leaks = Snapshot.take(temp_base).leaks_since(before)
        assert not is_foreign(str(proc.pid)) and is_foreign("1")
    finally:
        proc.kill()
        proc.wait()
        manager.destroy()
    assert any(line.startswith("leaked cgroups: ") and line.endswith(f"/berth-{cid}") for line in leaks)


def test_detects_an_overlay_root(tmp_path: Path, temp_base: Path) -> None:
    snapshots = Snapshotter(tmp_path / "snapshots", mode="overlay")
    before = Snapshot.take(temp_base)
    rootfs = snapshots.prepare("leak-probe", None).rootfs
    try:
        leaks = Snapshot.take(temp_base).leaks_since(before)
    finally:
        snapshots.release("leak-probe")
    assert f"leaked mounts: {rootfs} overlay overlay" in leaks
    assert _mentioning(str(rootfs), before, temp_base) == []


def test_detects_a_network_namespace(tmp_path: Path, temp_base: Path) -> None:
    pinned = tmp_path / "run" / "netns"  # where the engine pins a container's namespace
    before = Snapshot.take(temp_base)
    create_netns(pinned)
    try:
        leaks = Snapshot.take(temp_base).leaks_since(before)
    finally:
        remove_netns(pinned)
    assert f"leaked netns: {pinned} nsfs nsfs" in leaks
    assert _mentioning(str(pinned), before, temp_base) == []


def test_ignores_other_softwares_cgroups_mounts_and_netns(temp_base: Path) -> None:
    tag = f"foreign-{secrets.token_hex(4)}"
    before = Snapshot.take(temp_base)
    with contextlib.ExitStack() as undo:
        undo.enter_context(_foreign_cgroups(tag))
        undo.enter_context(_foreign_mount(tag))
        undo.enter_context(_foreign_netns(tag))
        leaks = Snapshot.take(temp_base).leaks_since(before)
    assert [line for line in leaks if tag in line] == []


@contextlib.contextmanager
def _foreign_cgroups(tag: str) -> Iterator[None]:
    """``tag/inner`` in one v1 hierarchy (memory, where the issue saw them) and in the v2 one."""
    hierarchies = mounted_hierarchies()
    v1 = sorted((h for h in hierarchies if h.version == 1), key=lambda h: "memory" not in h.controllers)
    v2 = [h for h in hierarchies if h.version == 2]
    made = [os.path.join(h.mountpoint, tag) for h in v1[:1] + v2[:1]]
    assert made, "no cgroup hierarchy is mounted"
    try:
        for top in made:
            os.makedirs(os.path.join(top, "inner"))
        yield
    finally:
        for top in made:
            for cgroup in (os.path.join(top, "inner"), top):
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(cgroup)


@contextlib.contextmanager
def _foreign_mount(tag: str) -> Iterator[None]:
    """A tmpfs outside Berth's places (not under the session's temporary base)."""
    target = tempfile.mkdtemp(prefix=f"{tag}-")
    try:
        subprocess.run(["mount", "-t", "tmpfs", tag, target], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", target], check=True)
    finally:
        os.rmdir(target)


@contextlib.contextmanager
def _foreign_netns(tag: str) -> Iterator[None]:
    """A netns made as other software makes one. On first use ``ip`` makes /run/netns and turns it
    into a mount point; both are undone if they were this netns's doing and nobody uses them now."""
    existed, was_mounted = os.path.isdir(_RUN_NETNS), os.path.ismount(_RUN_NETNS)
    subprocess.run(["ip", "netns", "add", tag], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "netns", "del", tag], check=True)
        if not was_mounted and not os.listdir(_RUN_NETNS):
            subprocess.run(["umount", _RUN_NETNS], check=True)
        if not existed:
            with contextlib.suppress(OSError):  # another program has made a netns meanwhile
                os.rmdir(_RUN_NETNS)


def test_network_leak_check_names_only_what_the_test_made(tmp_path: Path) -> None:
    from tests.integration.engine_cli.conftest import _made_by_test, _names_one_of

    cid, other = "a" * 64, "b" * 64
    log = tmp_path / "root" / "events" / "events.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        json.dumps({"Type": "container", "Status": "create", "ID": cid, "Name": "web"}) + "\n"
        + json.dumps({"Type": "network", "Status": "create", "ID": "1", "Name": "net1",
                      "Attributes": {"bridge": "berth7"}}) + "\n"
    )  # fmt: skip
    (tmp_path / "root-berth.toml").write_text('[network]\ndefault_network = "berthabc123"\n')
    made = _made_by_test(tmp_path)
    assert made == {cid, "net1", "berth7", "berthabc123"}
    ours = [
        f'-A POSTROUTING -s 10.9.0.2/32 -m comment --comment "name: \\"net1\\" id: \\"{cid}\\"" -j CNI-1',
        '-A POSTROUTING -s 10.8.0.0/24 ! -o berthabc123 -m comment --comment "berth network berthabc123" '
        "-j MASQUERADE",
        "-A FORWARD -i berth7 -j ACCEPT",
    ]
    theirs = [
        f'-A POSTROUTING -s 10.7.0.2/32 -m comment --comment "name: \\"podman\\" id: \\"{other}\\"" -j CNI-2',
        '-A POSTROUTING -s 10.6.0.0/24 ! -o berth7x -m comment --comment "berth network berth7x" '
        "-j MASQUERADE",
    ]
    assert all(_names_one_of(rule, made) for rule in ours)
    assert not any(_names_one_of(rule, made) for rule in theirs)
