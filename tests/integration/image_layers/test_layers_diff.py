"""Changesets: diff(lower, upper) applied on lower reproduces upper; an overlayfs upper directory
packs into the layer that reproduces the merged view."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from berth.image.layers import apply_layer, pack_diff, pack_overlay_upper, pack_tree
from tests.integration.image_layers.trees import describe, populate, tar_mtimes, tar_names

pytestmark = pytest.mark.root


def _clone(src: Path, dst: Path) -> Path:
    """A copy of ``src`` made by packing and applying it (keeps owners, xattrs and links)."""
    blob = io.BytesIO()
    pack_tree(src, blob)
    dst.mkdir()
    apply_layer(io.BytesIO(blob.getvalue()), dst)
    return dst


def _modify(upper: Path) -> None:
    (upper / "etc/hostname").write_text("changed\n")
    os.chmod(upper / "etc/passwd", 0o600)
    os.chown(upper / "etc/passwd", 5, 6)
    os.setxattr(upper / "etc/passwd", "user.added", b"1")
    os.unlink(upper / "fifo")
    shutil.rmtree(upper / "home/user/deep")
    os.unlink(upper / "null")
    (upper / "null").mkdir()  # a device replaced by a directory with content
    (upper / "null/inside").write_text("x")
    shutil.rmtree(upper / "empty-dir")
    (upper / "empty-dir").write_text("dir replaced by a file")
    os.link(upper / "etc/hostname", upper / "etc/hostname-link")  # a new hard link to a changed file
    (upper / "new-link").symlink_to("etc/hostname")
    os.mknod(upper / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    os.unlink(upper / "bin/sh")
    (upper / "bin/sh").write_text("symlink replaced by a file")


def test_diff_round_trip_reproduces_upper(tmp_path: Path) -> None:
    lower = populate(tmp_path / "lower")
    upper = _clone(lower, tmp_path / "upper")
    _modify(upper)
    blob = io.BytesIO()
    result = pack_diff(lower, upper, blob)
    names = tar_names(blob.getvalue())
    assert ".wh.fifo" in names and "home/user/.wh.deep" in names and "etc/hostname" in names
    assert "bin/tool" not in names  # unchanged entries are not in the changeset
    target = _clone(lower, tmp_path / "target")
    applied = apply_layer(io.BytesIO(blob.getvalue()), target)
    assert applied.diff_id == result.diff_id
    # Directory mtimes move when children are replaced; everything else must match.
    assert describe(target, dir_mtimes=False) == describe(upper, dir_mtimes=False)


def test_diff_of_equal_trees_is_empty(tmp_path: Path) -> None:
    lower = populate(tmp_path / "lower")
    upper = _clone(lower, tmp_path / "upper")
    blob = io.BytesIO()
    assert pack_diff(lower, upper, blob).entries == 0


def test_pack_is_deterministic_and_clamps_mtimes(tmp_path: Path) -> None:
    tree = populate(tmp_path / "tree")
    first, second = io.BytesIO(), io.BytesIO()
    a = pack_tree(tree, first, mtime_clamp=1_000)
    b = pack_tree(tree, second, mtime_clamp=1_000)
    assert first.getvalue() == second.getvalue() and a.digest == b.digest
    assert tar_mtimes(first.getvalue()) == {1_000}


@pytest.mark.timeout(60)
def test_overlay_upper_packs_into_the_merged_view(tmp_path: Path) -> None:
    lower = populate(tmp_path / "lower")
    upper, work, merged = (tmp_path / n for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={upper},workdir={work},redirect_dir=off,metacopy=off",
            str(merged),
        ],
        check=True,
    )
    try:
        os.unlink(merged / "etc/passwd")
        shutil.rmtree(merged / "home")
        (merged / "home").mkdir()  # an opaque directory over the old one
        (merged / "home/fresh").write_text("fresh")
        (merged / "bin/new").write_text("new")
        os.chmod(merged / "tmp", 0o755)
        expected = describe(merged, dir_mtimes=False)
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    blob = io.BytesIO()
    pack_overlay_upper(upper, blob)
    names = tar_names(blob.getvalue())
    assert "etc/.wh.passwd" in names and "home/.wh..wh..opq" in names
    target = _clone(lower, tmp_path / "target")
    apply_layer(io.BytesIO(blob.getvalue()), target)
    assert describe(target, dir_mtimes=False) == expected


def test_pack_skips_sockets(tmp_path: Path) -> None:
    import socket

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "file").write_text("x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tree / "sock"))
        blob = io.BytesIO()
        result = pack_tree(tree, blob)
    assert result.entries == 1 and tar_names(blob.getvalue()) == ["file"]
