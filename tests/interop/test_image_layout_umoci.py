"""Berth reads OCI image layouts that umoci 0.4 made (umoci init, new, insert, config)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.image.layers import apply_layer
from berth.image.layout import ImageLayout
from berth.image.store import ContentStore
from berth.spec.platform import host

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not shutil.which("umoci"), reason="needs umoci"),
]


def umoci(*argv: str | Path) -> None:
    proc = subprocess.run(["umoci", *map(str, argv)], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, f"umoci {argv[0]} failed: {proc.stderr}"


def test_berth_reads_umoci_layout(tmp_path: Path) -> None:
    oci, bundle = tmp_path / "oci", tmp_path / "bundle"
    umoci("init", "--layout", oci)
    assert ImageLayout(oci).tags() == []  # umoci writes "manifests": null here
    umoci("new", "--image", f"{oci}:base")
    umoci("unpack", "--image", f"{oci}:base", bundle)
    (bundle / "rootfs" / "hello.txt").write_text("hello from umoci\n")
    umoci("repack", "--image", f"{oci}:base", bundle)
    umoci("config", "--image", f"{oci}:base", "--config.cmd", "/bin/true", "--tag", "configured")

    layout = ImageLayout(oci)
    assert set(layout.tags()) == {"base", "configured"}
    resolved = layout.resolve("configured", host())
    assert resolved.config.config.cmd == ("/bin/true",)
    [layer] = resolved.manifest.layers
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with layout.blobs.open(layer.digest) as fh:
        applied = apply_layer(fh, rootfs, media_type=layer.media_type)
    assert applied.diff_id == resolved.config.diff_ids[0]
    assert (rootfs / "hello.txt").read_text() == "hello from umoci\n"

    images = ImageStore(tmp_path / "store")
    try:
        images.put("localhost/umoci:configured", layout.copy_to(images.content, "configured"))
        assert images.resolve("localhost/umoci:configured", host()).manifest == resolved.manifest
        assert fsck(images.content, images) == []
    finally:
        images.close()


def test_berth_reads_umoci_insert_layout(tmp_path: Path) -> None:
    """``umoci insert`` images: Berth reads the layout and copies it verified into its store.

    (umoci 0.4.7's insert ends its tar stream early, so its layers are not applied here; Python's
    tarfile rejects them too.)
    """
    oci = tmp_path / "oci"
    umoci("init", "--layout", oci)
    umoci("new", "--image", f"{oci}:base")
    hello = tmp_path / "hello.txt"
    hello.write_text("hello\n")
    umoci("insert", "--image", f"{oci}:base", hello, "/etc/hello.txt")
    layout = ImageLayout(oci)
    resolved = layout.resolve("base", host())
    assert len(resolved.manifest.layers) == len(resolved.config.diff_ids) == 1
    store = ContentStore(tmp_path / "store")
    try:
        target = layout.copy_to(store, "base")
        assert {i.digest for i in store.list()} == {
            target.digest,
            resolved.manifest.config.digest,
            resolved.manifest.layers[0].digest,
        }
    finally:
        store.close()


def test_umoci_reads_layout_berth_edited(tmp_path: Path) -> None:
    """Berth retags an image in a umoci layout; umoci still reads the index Berth rewrote."""
    oci = tmp_path / "oci"
    umoci("init", "--layout", oci)
    umoci("new", "--image", f"{oci}:base")
    layout = ImageLayout(oci)
    layout.add(layout.find("base"), "retagged")
    umoci("unpack", "--image", f"{oci}:retagged", tmp_path / "bundle")
    assert (tmp_path / "bundle" / "config.json").is_file()
