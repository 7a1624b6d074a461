"""Interop with GNU tar: a layer GNU tar made unpacks to the tree GNU tar makes of it, and a tree
Berth packs unpacks with GNU tar to the original tree."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from berth.image.layers import Compression, apply_layer, pack_tree
from tests.integration.image_layers.trees import describe, populate

pytestmark = [pytest.mark.root, pytest.mark.interop, pytest.mark.timeout(120)]

_EXTRACT = ["--xattrs", "--xattrs-include=*", "--same-owner", "--numeric-owner", "--same-permissions"]


@pytest.mark.parametrize("fmt", ["posix", "gnu"])
def test_layer_made_by_gnu_tar_unpacks_like_gnu_tar(tmp_path: Path, fmt: str) -> None:
    src = populate(tmp_path / "src")
    layer = tmp_path / "layer.tar.gz"
    subprocess.run(
        ["tar", f"--format={fmt}", "--xattrs", "--xattrs-include=*", "-C", str(src), "-czf", str(layer), "."],
        check=True,
    )
    by_tar = tmp_path / "by-tar"
    by_tar.mkdir()
    subprocess.run(["tar", *_EXTRACT, "-C", str(by_tar), "-xzf", str(layer)], check=True)
    by_berth = tmp_path / "by-berth"
    by_berth.mkdir()
    with open(layer, "rb") as blob:
        apply_layer(blob, by_berth)
    assert describe(by_berth) == describe(by_tar) == describe(src)


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD, Compression.NONE])
def test_tree_packed_by_berth_unpacks_with_gnu_tar(tmp_path: Path, compression: Compression) -> None:
    src = populate(tmp_path / "src")
    layer = tmp_path / "layer"
    with open(layer, "wb") as out:
        pack_tree(src, out, compression)
    dst = tmp_path / "dst"
    dst.mkdir()
    flag = {Compression.GZIP: ["-z"], Compression.ZSTD: ["--zstd"], Compression.NONE: []}[compression]
    subprocess.run(["tar", *_EXTRACT, *flag, "-C", str(dst), "-xf", str(layer)], check=True)
    assert describe(dst) == describe(src)


def test_gnu_tar_lists_berth_layer_entries_in_sorted_order(tmp_path: Path) -> None:
    src = populate(tmp_path / "src")
    blob = io.BytesIO()
    pack_tree(src, blob, Compression.NONE)
    listing = subprocess.run(["tar", "-t"], input=blob.getvalue(), capture_output=True, check=True).stdout
    names = [n.rstrip("/") for n in listing.decode().splitlines()]
    # depth first, each directory before its children, siblings in byte order
    assert names.index("home") < names.index("home/user") < names.index("home/user/deep")
    assert names[:3] == ["bin", "bin/abs", "bin/sh"]


def _sparse_files(root: Path) -> None:
    root.mkdir()
    with open(root / "few", "wb") as f:  # data at the start, a hole, one byte at the end
        f.write(b"start")
        f.seek(3 << 20)
        f.write(b"x")
    with open(root / "many", "wb") as f:  # 30 regions: old GNU headers need extension blocks
        for i in range(30):
            f.seek(i * (256 << 10))
            f.write(bytes([65 + i % 26]) * 5000)
        f.truncate(16 << 20)  # ends in a hole


@pytest.mark.parametrize(
    "options",
    [
        ["--format=gnu"],
        ["--format=posix", "--sparse-version=0.1"],
        ["--format=posix", "--sparse-version=1.0"],
    ],
)
def test_sparse_files_from_gnu_tar(tmp_path: Path, options: list[str]) -> None:
    src = tmp_path / "src"
    _sparse_files(src)
    layer = tmp_path / "layer.tar"
    subprocess.run(
        ["tar", *options, "--sparse", "-C", str(src), "-cf", str(layer), "few", "many"], check=True
    )
    dst = tmp_path / "dst"
    dst.mkdir()
    with open(layer, "rb") as blob:
        apply_layer(blob, dst)
    for name in ("few", "many"):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
        # the holes stay holes: far fewer blocks than the file's size
        assert (dst / name).stat().st_blocks * 512 < (dst / name).stat().st_size // 4
