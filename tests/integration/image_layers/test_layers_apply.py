"""Applying real layers: every entry kind, metadata, whiteouts over a lower layer, replacement,
overlay mode, digests."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from berth.image.layers import Compression, InvalidLayer, apply_layer, pack_tree
from tests.integration.image_layers.trees import describe, gz, make_tar, member, populate, zst

pytestmark = pytest.mark.root


def _apply(layer: bytes, root: Path, **options: object) -> object:
    root.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(layer), root, **options)  # type: ignore[arg-type]


def test_apply_restores_a_packed_tree_exactly(tmp_path: Path) -> None:
    src = populate(tmp_path / "src")
    blob = io.BytesIO()
    packed = pack_tree(src, blob)
    result = apply_layer(io.BytesIO(blob.getvalue()), _mkdir(tmp_path / "dst"))
    assert describe(tmp_path / "dst") == describe(src)
    assert (result.diff_id, result.digest, result.size) == (packed.diff_id, packed.digest, packed.size)
    assert result.compression is Compression.GZIP
    st = os.stat(tmp_path / "dst/bin/tool")
    assert st.st_mode & stat.S_ISUID and os.stat(tmp_path / "dst/tmp").st_mode & stat.S_ISVTX


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_apply_sets_owners_modes_xattrs_devices_and_mtimes(tmp_path: Path) -> None:
    layer = make_tar(
        [
            member("dir/", tarfile.DIRTYPE, mode=0o2750, uid=7, gid=8, mtime=1_000_000_000),
            member(
                "dir/file",
                data=b"data",
                mode=0o4711,
                uid=1000,
                gid=1001,
                mtime=1_100_000_000,
                pax_headers={"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.t": "w"},
            ),
            member("dir/link", tarfile.SYMTYPE, linkname="file", uid=5, gid=6, mtime=1_200_000_000),
            member("dir/hard", tarfile.LNKTYPE, linkname="dir/file"),
            member("dir/zero", tarfile.CHRTYPE, devmajor=1, devminor=5, mode=0o666),
            member("dir/disk", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660),
            member("dir/pipe", tarfile.FIFOTYPE, mode=0o600),
        ]
    )
    root = tmp_path / "root"
    _apply(gz(layer), root)
    d, f = os.stat(root / "dir"), os.stat(root / "dir/file")
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid, int(d.st_mtime)) == (0o2750, 7, 8, 1_000_000_000)
    assert (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid, int(f.st_mtime)) == (
        0o4711,
        1000,
        1001,
        1_100_000_000,
    )
    assert (
        os.getxattr(root / "dir/file", "user.k") == b"v"
        and os.getxattr(root / "dir/file", "trusted.t") == b"w"
    )
    link = os.lstat(root / "dir/link")
    assert (os.readlink(root / "dir/link"), link.st_uid, int(link.st_mtime)) == ("file", 5, 1_200_000_000)
    assert os.stat(root / "dir/hard").st_ino == f.st_ino
    zero, disk = os.lstat(root / "dir/zero"), os.lstat(root / "dir/disk")
    assert stat.S_ISCHR(zero.st_mode) and zero.st_rdev == os.makedev(1, 5)
    assert stat.S_ISBLK(disk.st_mode) and disk.st_rdev == os.makedev(7, 0)
    assert stat.S_ISFIFO(os.lstat(root / "dir/pipe").st_mode)


def test_apply_creates_missing_parents(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _apply(make_tar([member("a/b/c/file", data=b"x")]), root)
    assert (root / "a/b/c/file").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(root / "a/b").st_mode) == 0o755


def _lower(root: Path) -> None:
    _apply(
        make_tar(
            [
                member("keep", data=b"keep"),
                member("gone", data=b"gone"),
                member("tree/", tarfile.DIRTYPE),
                member("tree/sub/", tarfile.DIRTYPE),
                member("tree/sub/file", data=b"x"),
                member("opq/", tarfile.DIRTYPE),
                member("opq/old", data=b"old"),
                member("opq/olddir/", tarfile.DIRTYPE),
                member("opq/olddir/f", data=b"old"),
            ]
        ),
        root,
    )


def test_apply_whiteouts_delete_lower_entries(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _lower(root)
    _apply(
        make_tar(
            [
                member(".wh.gone"),
                member(".wh.tree"),
                member("opq/", tarfile.DIRTYPE),
                member("opq/.wh..wh..opq"),
                member("opq/olddir/", tarfile.DIRTYPE),
                member("opq/olddir/new", data=b"new"),
                member(".wh.never-existed"),
            ]
        ),
        root,
    )
    assert sorted(os.listdir(root)) == ["keep", "opq"]
    # opaque: the lower children are gone, the directory this layer wrote stays, without lower content
    assert sorted(os.listdir(root / "opq")) == ["olddir"]
    assert os.listdir(root / "opq/olddir") == ["new"]


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_apply_whiteout_never_hides_its_own_layer(tmp_path: Path, whiteout_first: bool) -> None:
    # layer.md#whiteouts: a whiteout applies to lower layers only, whatever the order in the tar.
    root = tmp_path / "root"
    _lower(root)
    members = [member(".wh.keep"), member("keep", data=b"new")]
    opaque = [member("opq/.wh..wh..opq"), member("opq/fresh", data=b"fresh")]
    if not whiteout_first:
        members.reverse()
        opaque.reverse()
    _apply(make_tar(members + opaque), root)
    assert (root / "keep").read_bytes() == b"new"
    assert os.listdir(root / "opq") == ["fresh"]


def test_apply_replaces_entries_of_another_type(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _apply(
        make_tar(
            [
                member("a", data=b"file"),
                member("b/", tarfile.DIRTYPE),
                member("b/child", data=b"c"),
                member("c", tarfile.SYMTYPE, linkname="a"),
                member("d", data=b"shared"),
                member("e", tarfile.LNKTYPE, linkname="d"),
            ]
        ),
        root,
    )
    _apply(
        make_tar(
            [
                member("a/", tarfile.DIRTYPE),
                member("b", tarfile.SYMTYPE, linkname="a"),
                member("c", data=b"now a file"),
                member("d", data=b"replaced"),
            ]
        ),
        root,
    )
    assert stat.S_ISDIR(os.lstat(root / "a").st_mode)
    assert os.readlink(root / "b") == "a"
    assert (root / "c").read_bytes() == b"now a file" and not os.path.islink(root / "c")
    # the old hard link partner keeps the old content: the file was replaced, not rewritten
    assert (root / "d").read_bytes() == b"replaced" and (root / "e").read_bytes() == b"shared"


def test_apply_overlay_mode_writes_overlay_whiteouts(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    _lower(lower)
    os.chmod(lower / "tree", 0o700)
    upper = tmp_path / "upper"
    _apply(
        make_tar(
            [member(".wh.gone"), member("opq/.wh..wh..opq"), member("opq/x", data=b"x"), member("tree/n")]
        ),
        upper,
        overlay=True,
        lowers=[lower],
    )
    gone = os.lstat(upper / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(upper / "opq", "trusted.overlay.opaque") == b"y"
    assert os.listdir(upper / "opq") == ["x"]
    # a parent the layer did not carry takes its mode from the lower layer
    assert stat.S_IMODE(os.stat(upper / "tree").st_mode) == 0o700


def test_apply_overlay_mode_hard_link_must_be_in_the_layer(tmp_path: Path) -> None:
    with pytest.raises(InvalidLayer, match="hard link target"):
        _apply(make_tar([member("h", tarfile.LNKTYPE, linkname="lower-file")]), tmp_path / "up", overlay=True)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_apply_long_names_and_links(tmp_path: Path, fmt: int) -> None:
    name = "d" * 120 + "/" + "f" * 200
    target = "t" * 300
    root = tmp_path / "root"
    _apply(
        zst(make_tar([member(name, data=b"x"), member("sym", tarfile.SYMTYPE, linkname=target)], fmt)), root
    )
    assert (root / name).read_bytes() == b"x"
    assert os.readlink(root / "sym") == target


def test_apply_reports_digests_of_a_zstd_layer(tmp_path: Path) -> None:
    tar = make_tar([member("f", data=b"x" * 10_000)])
    blob = zst(tar)
    result = _apply(blob, tmp_path / "root", media_type="application/vnd.oci.image.layer.v1.tar+zstd")
    assert result.diff_id.encoded == hashlib.sha256(tar).hexdigest()  # type: ignore[attr-defined]
    assert result.digest.encoded == hashlib.sha256(blob).hexdigest()  # type: ignore[attr-defined]


def test_apply_refuses_a_media_type_that_disagrees(tmp_path: Path) -> None:
    with pytest.raises(InvalidLayer, match="media type"):
        _apply(
            gz(make_tar([member("f")])),
            tmp_path / "root",
            media_type="application/vnd.oci.image.layer.v1.tar+zstd",
        )
    assert not os.listdir(tmp_path / "root")


def test_apply_overlay_mode_never_borrows_metadata_through_a_lower_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside/sub"
    outside.mkdir(parents=True)
    os.chmod(outside, 0o711)
    os.chown(outside, 4242, 4242)
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "link").symlink_to(tmp_path / "outside")
    upper = tmp_path / "upper"
    _apply(make_tar([member("link/sub/file", data=b"x")]), upper, overlay=True, lowers=[lower])
    st = os.stat(upper / "link/sub")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 0)


def test_apply_and_pack_trees_deeper_than_python_recursion(tmp_path: Path) -> None:
    deep = "/".join(["d"] * 1200)
    root = tmp_path / "root"
    _apply(make_tar([member(deep + "/file", data=b"x"), member("keep", data=b"k")]), root)
    blob = io.BytesIO()
    assert pack_tree(root, blob).entries == 1202
    _apply(make_tar([member(".wh.d")]), root)
    assert os.listdir(root) == ["keep"]
