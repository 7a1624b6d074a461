"""Berth unpacks layouts that umoci and skopeo made to the same tree umoci unpacks.

The source tree mixes what layers carry: modes (setuid, sticky, private dirs), owners, symlinks,
hard links, a FIFO and empty directories. umoci packs it (unpack, replace the rootfs, repack);
skopeo recompresses that layout to zstd. Berth applies each layout's layers, and both results must
match umoci's own unpack entry for entry: type, mode, owner, size, content, link target, hard-link
grouping and regular files' mtimes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from berth.image.layers import apply_layer
from berth.image.layout import ImageLayout
from tests.busybox import make_rootfs

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo")), reason="needs umoci, skopeo"),
]


def run(*argv: str | Path) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, f"{argv[0]} failed: {proc.stderr}"


def make_source_tree(root: Path) -> None:
    make_rootfs(root)
    (root / "srv/private").mkdir(parents=True)
    os.chmod(root / "srv/private", 0o700)
    os.chown(root / "srv/private", 2000, 2000)
    secret = root / "srv/private/secret"
    secret.write_text("only for 1000\n")
    os.chmod(secret, 0o640)
    os.chown(secret, 1000, 1000)
    setuid = root / "usr/bin/setuid-tool"
    setuid.write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(setuid, 0o4755)
    (root / "srv/shared").mkdir()
    os.chmod(root / "srv/shared", 0o1777)
    os.link(secret, root / "srv/private/secret-link")
    (root / "srv/to-secret").symlink_to("private/secret")
    (root / "srv/dangling").symlink_to("/nowhere/at/all")
    os.mkfifo(root / "srv/pipe", 0o600)
    (root / "srv/empty/nested").mkdir(parents=True)
    big = root / "srv/big.bin"
    big.write_bytes(os.urandom(3 << 20))
    os.utime(big, (1_600_000_000, 1_600_000_000))


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (not the root itself) as comparable facts."""
    facts: dict[str, tuple[object, ...]] = {}
    inode_names: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            extra: object = None
            if stat.S_ISREG(kind):
                with open(path, "rb") as fh:
                    extra = (hashlib.sha256(fh.read()).hexdigest(), int(st.st_mtime))
                if st.st_nlink > 1:  # name the group by its first member, so inode numbers don't matter
                    extra = (extra, inode_names.setdefault((st.st_dev, st.st_ino), rel))
            elif stat.S_ISLNK(kind):
                extra = os.readlink(path)
            facts[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, extra)
    return facts


def berth_unpack(layout_dir: Path, tag: str, target: Path) -> None:
    layout = ImageLayout(layout_dir)
    resolved = layout.resolve(tag)
    target.mkdir()
    for layer, diff_id in zip(resolved.manifest.layers, resolved.config.diff_ids, strict=True):
        with layout.blobs.open(layer.digest) as fh:
            assert apply_layer(fh, target, media_type=layer.media_type).diff_id == diff_id


def test_berth_unpacks_umoci_and_skopeo_layouts_like_umoci(tmp_path: Path) -> None:
    oci, bundle = tmp_path / "oci", tmp_path / "bundle"
    run("umoci", "init", "--layout", oci)
    run("umoci", "new", "--image", f"{oci}:base")
    run("umoci", "unpack", "--image", f"{oci}:base", bundle)
    make_source_tree(bundle / "rootfs")
    run("umoci", "repack", "--image", f"{oci}:base", bundle)
    zstd = tmp_path / "zstd"
    run("skopeo", "copy", "--dest-compress-format", "zstd", f"oci:{oci}:base", f"oci:{zstd}:base")

    reference = tmp_path / "umoci-unpacked"
    run("umoci", "unpack", "--image", f"{oci}:base", reference)
    expected = describe(reference / "rootfs")
    # The peer kept what we made, so the comparison below covers it.
    assert expected["srv/private/secret"][1:4] == (0o640, 1000, 1000)
    assert stat.S_ISFIFO(expected["srv/pipe"][0]) and expected["usr/bin/setuid-tool"][1] == 0o4755
    assert expected["srv/private/secret-link"][4] == expected["srv/private/secret"][4]

    berth_unpack(oci, "base", tmp_path / "from-umoci")
    berth_unpack(zstd, "base", tmp_path / "from-skopeo")
    assert describe(tmp_path / "from-umoci") == expected
    assert describe(tmp_path / "from-skopeo") == expected
