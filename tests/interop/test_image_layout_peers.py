"""Berth's OCI image layouts against skopeo 1.9 and umoci 0.4 (the peers that read and write them).

A busybox image is built with Berth (rootfs from tests.busybox, layer from berth.image.layers),
written as a layout, copied by skopeo and back with identical digests, inspected by skopeo,
unpacked by umoci; and Berth reads what skopeo writes when it recompresses the layers as zstd.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.image.layers import Compression, apply_layer, pack_tree
from berth.image.layout import ImageLayout
from berth.image.store import ContentStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.image_config import ContainerConfig, History, ImageConfig
from berth.spec.manifest import ImageManifest
from berth.spec.platform import host
from tests.busybox import make_rootfs

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not (shutil.which("skopeo") and shutil.which("umoci")), reason="needs skopeo and umoci"
    ),
]

TAG = "latest"


@dataclass(frozen=True)
class BuiltImage:
    layout: ImageLayout
    descriptor: Descriptor
    manifest: ImageManifest
    config: ImageConfig


def run(*argv: str | Path) -> str:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, f"{argv[0]} failed: {proc.stderr}"
    return proc.stdout


def build_busybox_layout(work: Path) -> BuiltImage:
    """The busybox test image, made by Berth, as an OCI layout at ``work/berth``."""
    rootfs = make_rootfs(work / "rootfs")
    store = ContentStore(work / "store")
    try:
        with store.writer("busybox-layer") as w:
            packed = pack_tree(rootfs, w, Compression.GZIP)
            w.commit(packed.size, packed.digest)
        me = host()
        config = ImageConfig(
            me.architecture,
            me.os,
            (packed.diff_id,),
            ContainerConfig(env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin",), cmd=("/bin/sh",), working_dir="/"),
            variant=me.variant,
            created="2024-01-01T00:00:00Z",
            history=(History(created="2024-01-01T00:00:00Z", created_by="berth interop test"),),
        )
        store.put(config.to_bytes())
        manifest = ImageManifest(
            Descriptor.of(mt.OCI_CONFIG, config.to_bytes()),
            (Descriptor(packed.media_type, packed.digest, packed.size),),
        )
        store.put(manifest.to_bytes())
        layout = ImageLayout.create(work / "berth")
        layout.copy_from(store, manifest.descriptor(), tag=TAG)
    finally:
        store.close()
    return BuiltImage(layout, manifest.descriptor(), manifest, config)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    work = tmp_path_factory.mktemp("layout-peers")
    yield build_busybox_layout(work)
    shutil.rmtree(work, ignore_errors=True)


def test_skopeo_round_trip_keeps_digests(built: BuiltImage, tmp_path: Path) -> None:
    there, back = tmp_path / "skopeo", tmp_path / "back"
    run("skopeo", "copy", f"oci:{built.layout.path}:{TAG}", f"oci:{there}:{TAG}")
    run("skopeo", "copy", f"oci:{there}:{TAG}", f"oci:{back}:{TAG}")
    for path in (there, back):
        layout = ImageLayout(path)
        assert layout.find(TAG).digest == built.descriptor.digest
        resolved = layout.resolve(TAG)
        assert resolved.manifest.to_bytes() == built.manifest.to_bytes()
        assert fsck(layout.blobs) == []
    # and Berth copies skopeo's layout into its own store, where it is a complete image
    images = ImageStore(tmp_path / "store")
    try:
        images.put("localhost/busybox", ImageLayout(back).copy_to(images.content, TAG))
        assert images.resolve("localhost/busybox").manifest.layers == built.manifest.layers
        assert fsck(images.content, images) == []
    finally:
        images.close()


def test_skopeo_inspect_reads_berths_layout(built: BuiltImage) -> None:
    info = json.loads(run("skopeo", "inspect", f"oci:{built.layout.path}:{TAG}"))
    assert info["Digest"] == str(built.descriptor.digest)
    assert info["Architecture"] == host().architecture and info["Os"] == "linux"
    assert info["Layers"] == [str(built.manifest.layers[0].digest)]
    assert "PATH=/usr/sbin:/usr/bin:/sbin:/bin" in info["Env"]
    raw = run("skopeo", "inspect", "--raw", f"oci:{built.layout.path}:{TAG}")
    assert raw.encode() == built.manifest.to_bytes()


def test_umoci_unpacks_berths_layout(built: BuiltImage, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{built.layout.path}:{TAG}", bundle)
    assert (bundle / "rootfs" / "bin" / "busybox").read_bytes() == Path("/bin/busybox").read_bytes()
    assert (bundle / "rootfs" / "bin" / "sh").is_symlink()
    assert (bundle / "rootfs" / "etc" / "passwd").read_text().startswith("root:")
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/sh"]
    assert config["process"]["cwd"] == "/"


def test_berth_reads_skopeo_zstd_layout(built: BuiltImage, tmp_path: Path) -> None:
    zstd = tmp_path / "zstd"
    run(
        "skopeo",
        "copy",
        "--dest-compress-format",
        "zstd",
        f"oci:{built.layout.path}:{TAG}",
        f"oci:{zstd}:{TAG}",
    )
    layout = ImageLayout(zstd)
    resolved = layout.resolve(TAG)
    [layer] = resolved.manifest.layers
    assert layer.media_type == mt.OCI_LAYER_ZSTD
    assert resolved.descriptor.digest != built.descriptor.digest
    # Same files, so the same DiffID, whatever the compression.
    assert resolved.config.diff_ids == built.config.diff_ids
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with layout.blobs.open(layer.digest) as fh:
        applied = apply_layer(fh, rootfs, media_type=layer.media_type)
    assert applied.diff_id == resolved.config.diff_ids[0]
    assert (rootfs / "bin" / "busybox").stat().st_size == Path("/bin/busybox").stat().st_size
