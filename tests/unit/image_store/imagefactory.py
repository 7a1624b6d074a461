"""Small synthetic images written straight into a content store, for store, gc and layout tests."""

from __future__ import annotations

import os

from berth.image.store import ContentStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.image_config import ContainerConfig, ImageConfig
from berth.spec.manifest import ImageIndex, ImageManifest
from berth.spec.platform import Platform


def add_manifest(
    store: ContentStore,
    arch: str = "amd64",
    layers: int = 2,
    subject: Descriptor | None = None,
    docker: bool = False,
    lease: str | None = None,
) -> tuple[Descriptor, ImageManifest]:
    """Random layers, a config naming them, and a manifest; returns the manifest's descriptor."""
    layer_descs = []
    diff_ids = []
    for _ in range(layers):
        data = os.urandom(64)
        layer_descs.append(Descriptor.of(mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP, data))
        diff_ids.append(Digest.of(data))
        store.put(data, lease=lease)
    config = ImageConfig(arch, "linux", tuple(diff_ids), ContainerConfig(cmd=("sh",)))
    store.put(config.to_bytes(), lease=lease)
    manifest = ImageManifest(
        Descriptor.of(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, config.to_bytes()),
        tuple(layer_descs),
        media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
        subject=subject,
    )
    store.put(manifest.to_bytes(), lease=lease)
    return manifest.descriptor(platform=Platform("linux", arch)), manifest


def add_index(
    store: ContentStore, arches: tuple[str, ...] = ("amd64", "arm64"), docker: bool = False
) -> Descriptor:
    """An index (or Docker manifest list) of one manifest per architecture."""
    entries = tuple(add_manifest(store, arch, docker=docker)[0] for arch in arches)
    index = ImageIndex(entries, media_type=mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX)
    store.put(index.to_bytes())
    return index.descriptor()
