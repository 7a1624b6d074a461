"""Builds the busybox test image straight into an engine's image store (no registry needed)."""

from __future__ import annotations

from pathlib import Path

from berth.image.images import ImageStore
from berth.image.layers import Compression, pack_tree
from berth.image.store import ContentStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.image_config import ContainerConfig, ImageConfig
from berth.spec.manifest import ImageManifest
from berth.spec.platform import host


def store_busybox_image(root: Path, rootfs: Path, name: str, config: ContainerConfig) -> None:
    """Pack ``rootfs`` as one gzip layer and record image ``name`` in ``root/images``."""
    content = ContentStore(root / "images")
    try:
        with content.writer(f"layer-{name}") as w:
            packed = pack_tree(rootfs, w, Compression.GZIP)
            w.commit(packed.size, packed.digest)
        me = host()
        image_config = ImageConfig(me.architecture, me.os, (packed.diff_id,), config, variant=me.variant)
        content.put(image_config.to_bytes())
        manifest = ImageManifest(
            Descriptor.of(mt.OCI_CONFIG, image_config.to_bytes()),
            (Descriptor(packed.media_type, packed.digest, packed.size),),
        )
        content.put(manifest.to_bytes())
        ImageStore(content).put(name, manifest.descriptor())
    finally:
        content.close()
