"""``commit_layer`` keeps the base image's manifest format: a Docker schema 2 base gives a Docker
manifest with Docker media types, an OCI base an OCI manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.image.commit import commit_upper
from berth.image.images import ImageStore
from berth.image.importer import import_image
from berth.spec import mediatypes, records
from berth.spec.descriptor import Descriptor
from berth.spec.manifest import ImageManifest


@pytest.fixture
def images(tmp_path: Path) -> Iterator[ImageStore]:
    store = ImageStore(tmp_path / "store")
    yield store
    store.close()


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    base, upper = tmp_path / "base", tmp_path / "upper"
    (base / "etc").mkdir(parents=True)
    (base / "etc/os-release").write_text("base\n")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/motd").write_text("hi\n")
    return base, upper


def test_docker_base_gives_a_docker_manifest(images: ImageStore, tmp_path: Path) -> None:
    base, upper = _dirs(tmp_path)
    oci = images.resolve(import_image(images, base, "oci:1").name)
    config = Descriptor(mediatypes.DOCKER_CONFIG, oci.manifest.config.digest, oci.manifest.config.size)
    layers = tuple(records.replace(d, media_type=mediatypes.DOCKER_LAYER_GZIP) for d in oci.manifest.layers)
    docker = ImageManifest(config=config, layers=layers, media_type=mediatypes.DOCKER_MANIFEST)
    images.content.put(docker.to_bytes(), docker.descriptor())
    images.put("dock:1", docker.descriptor())
    commit_upper(images, upper, "dock:1", reference="dock:2")
    new = images.resolve("localhost/dock:2")
    assert new.descriptor.media_type == mediatypes.DOCKER_MANIFEST
    assert new.manifest.config.media_type == mediatypes.DOCKER_CONFIG
    assert [d.media_type for d in new.manifest.layers] == [mediatypes.DOCKER_LAYER_GZIP] * 2
    commit_upper(images, upper, "oci:1", reference="oci:2")
    again = images.resolve("localhost/oci:2")
    assert again.descriptor.media_type == mediatypes.OCI_MANIFEST
    assert [d.media_type for d in again.manifest.layers] == [mediatypes.OCI_LAYER_GZIP] * 2
    assert again.config.diff_ids[-1] == new.config.diff_ids[-1]  # the same changeset either way
