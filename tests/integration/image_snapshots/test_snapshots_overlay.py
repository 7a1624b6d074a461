"""The snapshotter: layers unpacked once by chain ID, overlay roots mounted and unmounted with no
leak, long chains, concurrent unpacks, refusal to remove a parent, copy mode."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from berth.errors import AlreadyExists, DigestMismatch, InvalidState, NotFound
from berth.image.layers import apply_layer
from berth.image.snapshots import Snapshotter, chain_id, chain_ids
from berth.spec.digest import Digest
from tests.integration.image_layers.trees import gz, make_tar, member, tar_names

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

BASE = gz(
    make_tar(
        [
            member("etc/", tarfile.DIRTYPE),
            member("etc/passwd", data=b"root\n"),
            member("etc/gone", data=b"gone"),
            member("tmp/", tarfile.DIRTYPE, mode=0o1777),
            member("opq/", tarfile.DIRTYPE),
            member("opq/old", data=b"old"),
        ]
    )
)
TOP = gz(
    make_tar(
        [member("etc/.wh.gone"), member("opq/.wh..wh..opq"), member("opq/new", data=b"new"), member("tmp/x")]
    )
)


def _unpack_both(snaps: Snapshotter) -> Digest:
    base = snaps.unpack(io.BytesIO(BASE), None)
    return snaps.unpack(io.BytesIO(TOP), base.chain_id).chain_id


def test_snapshot_chain_ids_and_overlay_root(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    base, upper = snaps.chain(top)[::-1]
    assert [base.chain_id, upper.chain_id] == chain_ids([base.diff_id, upper.diff_id])
    assert (base.path / "etc/passwd").read_bytes() == b"root\n"
    active = snaps.prepare("c1", top)
    try:
        assert active.kind == "overlay"
        root = active.rootfs
        assert sorted(os.listdir(root / "etc")) == ["passwd"]
        assert os.listdir(root / "opq") == ["new"]
        assert os.stat(root / "tmp").st_mode & 0o1777 == 0o1777  # kept from the lower layer
        (root / "written").write_text("by the container")
        assert active.upper is not None and (active.upper / "written").exists()
        assert not (base.path / "written").exists()
        with pytest.raises(AlreadyExists):
            snaps.prepare("c1", top)
    finally:
        snaps.release("c1")
    assert not (tmp_path / "snaps/active/c1").exists()
    with pytest.raises(NotFound):
        snaps.active("c1")


def test_snapshot_diff_of_a_container_root(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    try:
        os.unlink(active.rootfs / "etc/passwd")
        (active.rootfs / "new").write_text("x")
        blob = io.BytesIO()
        snaps.diff("c1", blob)
    finally:
        snaps.release("c1")
    names = sorted(tar_names(blob.getvalue()))
    assert names == ["etc", "etc/.wh.passwd", "new"]


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_snapshot_changes_of_a_container_root(tmp_path: Path, mode: str) -> None:
    snaps = Snapshotter(tmp_path / "snaps", mode="copy" if mode == "copy" else "auto")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    try:
        os.unlink(active.rootfs / "etc/passwd")  # in the base layer
        (active.rootfs / "new").write_text("x")
        (active.rootfs / "tmp/x").write_text("changed")  # from the top layer
        (active.rootfs / "etc/gone").write_text("back")  # the top layer deleted it: added again
        changes = sorted(snaps.changes("c1"))
    finally:
        snaps.release("c1")
    # Overlay copies /tmp up to write /tmp/x, so the directory counts as changed (podman says so
    # too); a copy-mode root compares trees, and /tmp's own metadata did not change.
    tmp_dir = [("C", "/tmp")] if mode == "overlay" else []
    assert changes == [("A", "/etc/gone"), ("A", "/new"), ("C", "/etc"), *tmp_dir, ("C", "/tmp/x"),
                       ("D", "/etc/passwd")]  # fmt: skip


def test_snapshot_unpack_is_idempotent_and_skips_known_layers(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    first = snaps.unpack(io.BytesIO(BASE), None)
    again = snaps.unpack(io.BytesIO(BASE), None)
    assert first == again

    class Unread:
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("a known layer must not be read")

    assert snaps.unpack(Unread(), None, diff_id=first.diff_id) == first
    assert os.listdir(tmp_path / "snaps/tmp") == []


def test_snapshot_unpack_checks_the_diff_id_and_leaves_nothing(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    with pytest.raises(DigestMismatch):
        snaps.unpack(io.BytesIO(BASE), None, diff_id=Digest.of(b"something else"))
    with pytest.raises(Exception, match="truncated"):
        snaps.unpack(io.BytesIO(BASE[:100]), None)
    assert snaps.snapshots() == [] and os.listdir(tmp_path / "snaps/tmp") == []
    with pytest.raises(NotFound):
        snaps.unpack(io.BytesIO(TOP), Digest.of(b"missing parent"))


def test_snapshot_remove_refuses_a_parent_or_one_in_use(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    base = snaps.get(top).parent
    assert base is not None
    with pytest.raises(InvalidState, match="parent of"):
        snaps.remove(base)
    snaps.prepare("c1", top)
    try:
        with pytest.raises(InvalidState, match="in use"):
            snaps.remove(top)
    finally:
        snaps.release("c1")
    snaps.remove(top)
    snaps.remove(base)
    assert snaps.snapshots() == []


_CONCURRENT = """
import sys
from berth.image.snapshots import Snapshotter
with open(sys.argv[2], "rb") as blob:
    print(Snapshotter(sys.argv[1]).unpack(blob, None).chain_id)
"""


def test_snapshot_concurrent_unpacks_of_one_layer(tmp_path: Path) -> None:
    blob = tmp_path / "layer.tar.gz"
    blob.write_bytes(gz(make_tar([member(f"f{i}", data=os.urandom(20_000)) for i in range(200)])))
    root = tmp_path / "snaps"
    Snapshotter(root)
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(root), str(blob)], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1]
    assert len(os.listdir(root / "snapshots")) == 1 and os.listdir(root / "tmp") == []


def _long_chain(snaps: Snapshotter, layers: int) -> Digest:
    parent = None
    for i in range(layers):
        members = [member(f"layer{i:03d}", data=str(i).encode())]
        if i:
            members.append(member(f".wh.layer{i - 1:03d}"))  # each hides the one below
        parent = snaps.unpack(io.BytesIO(make_tar(members)), parent).chain_id
    assert parent is not None
    return parent


@pytest.mark.parametrize("layers", [45, 130])
def test_snapshot_long_chains_mount(tmp_path: Path, layers: int) -> None:
    # 45 layers overflow one page of absolute lowerdir paths (relative paths fit);
    # 130 overflow even relative ones (the lowest layers are merged into one directory).
    snaps = Snapshotter(tmp_path / "snaps")
    top = _long_chain(snaps, layers)
    active = snaps.prepare("long", top)
    try:
        assert os.listdir(active.rootfs) == [f"layer{layers - 1:03d}"]
    finally:
        snaps.release("long")
    assert (
        tmp_path / "snaps/snapshots" / snaps.chain(top)[layers // 2].chain_id.encoded / "flat"
    ).exists() == (layers > 100)


def test_snapshot_copy_mode(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps", mode="copy")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    assert active.kind == "copy" and active.upper is None
    assert sorted(os.listdir(active.rootfs / "etc")) == ["passwd"]
    assert os.listdir(active.rootfs / "opq") == ["new"]
    (active.rootfs / "etc/passwd").write_text("changed")
    blob = io.BytesIO()
    snaps.diff("c1", blob)
    check = tmp_path / "check"
    check.mkdir()
    apply_layer(io.BytesIO(blob.getvalue()), check)
    assert (check / "etc/passwd").read_text() == "changed"
    snaps.release("c1")


def test_snapshot_root_without_layers(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    active = snaps.prepare("scratch", None)
    try:
        assert os.listdir(active.rootfs) == []
        (active.rootfs / "f").write_text("x")
    finally:
        snaps.release("scratch")


def test_chain_id_of_unpacked_layers(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    base = snaps.get(top).parent
    assert base is not None
    assert top == chain_id(base, snaps.get(top).diff_id)


def test_snapshot_root_is_mounted_again_with_its_changes(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    try:
        (active.rootfs / "kept").write_text("across a remount")
        os.unlink(active.rootfs / "etc/passwd")
        subprocess.run(["umount", str(active.rootfs)], check=True)  # as a reboot would
        assert not os.path.ismount(active.rootfs)
        snaps.mount("c1")
        snaps.mount("c1")  # already mounted: nothing to do
        assert (active.rootfs / "kept").read_text() == "across a remount"
        assert os.listdir(active.rootfs / "etc") == []
    finally:
        snaps.release("c1")


def _mounted_volatile(mountpoint: Path) -> bool:
    """Whether the overlay at ``mountpoint`` is volatile: the kernel shows the option as "volatile"
    (5.10 to 6.x) or "fsync=volatile" (later) among its options (proc(5) mountinfo, after " - ")."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(mountpoint):
            return bool({"volatile", "fsync=volatile"} & set(fields[fields.index("-") + 3].split(",")))
    raise AssertionError(f"{mountpoint} is not mounted")


def test_a_volatile_root_is_mounted_volatile_again_too(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    plain, volatile = snaps.prepare("plain", top), snaps.prepare("volatile", top, volatile=True)
    try:
        assert not plain.volatile and not _mounted_volatile(plain.rootfs)
        assert volatile.volatile and _mounted_volatile(volatile.rootfs)
        (volatile.rootfs / "kept").write_text("until the root goes")
        subprocess.run(["umount", str(volatile.rootfs)], check=True)  # as a reboot would
        assert snaps.mount("volatile").volatile  # work/incompat/volatile made anew: it mounts
        assert _mounted_volatile(volatile.rootfs)
        assert (volatile.rootfs / "kept").read_text() == "until the root goes"
    finally:
        snaps.release("plain")
        snaps.release("volatile")


def test_snapshot_root_whose_prepare_was_killed_before_its_record_is_released(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "snaps")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    (tmp_path / "snaps/active/c1/info.json").unlink()  # killed between the mount and the record
    assert os.path.ismount(active.rootfs)
    snaps.release("c1")
    assert not os.path.ismount(active.rootfs)
    assert not (tmp_path / "snaps/active/c1").exists()
    (tmp_path / "snaps/active/c2/rootfs").mkdir(parents=True)  # killed before the mount
    snaps.release("c2")
    assert not (tmp_path / "snaps/active/c2").exists()
    with pytest.raises(NotFound):
        snaps.release("c3")


def test_snapshotter_cleans_up_what_a_crashed_unpack_left(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    code = (
        "import os, sys\n"
        "from berth.image.snapshots import Snapshotter\n"
        "class Dying:\n"
        "    def read(self, n=-1):\n"
        "        os._exit(9)  # the process dies in the middle of an unpack\n"
        "Snapshotter(sys.argv[1]).unpack(Dying(), None)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(root)]).returncode == 9
    assert len(os.listdir(root / "tmp")) == 1  # the abandoned scratch directory
    busy = Snapshotter(root)  # the constructor cleans up
    assert os.listdir(root / "tmp") == []
    with busy._scratch("unpack-") as scratch:  # a live process's scratch directory stays
        Snapshotter(root)
        assert scratch.exists()


def test_snapshot_root_path_with_option_separators(tmp_path: Path) -> None:
    snaps = Snapshotter(tmp_path / "odd,name:with\\separators")
    top = _unpack_both(snaps)
    active = snaps.prepare("c1", top)
    try:
        assert active.kind == "overlay" and os.listdir(active.rootfs / "opq") == ["new"]
    finally:
        snaps.release("c1")
