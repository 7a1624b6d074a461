"""image/layout.py: OCI image layouts, tags, copies to and from the content store, bad layouts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import DigestMismatch, InvalidArgument, NotFound
from berth.image.images import ImageStore
from berth.image.layout import INGEST_DIR, REF_NAME, ImageLayout, check_ref_name
from berth.image.store import ContentStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.platform import Platform
from tests.unit.image_store.imagefactory import add_index, add_manifest

AMD64 = Platform.parse("linux/amd64")


def layout_files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_create_writes_the_three_parts(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "oci")
    assert json.loads((layout.path / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((layout.path / "index.json").read_bytes()) == {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [],
    }
    assert layout_files(layout.path) == ["blobs", "index.json", "oci-layout"]
    assert ImageLayout.create(layout.path).tags() == []  # idempotent


def test_copy_from_store_tag_and_back(tmp_path: Path, store: ContentStore) -> None:
    desc, manifest = add_manifest(store)
    layout = ImageLayout.create(tmp_path / "oci")
    entry = layout.copy_from(store, desc, tag="v1")
    assert entry.annotations == {REF_NAME: "v1"}
    assert layout.tags() == ["v1"]
    assert layout.find("v1") == layout.find(str(desc.digest)) == entry
    assert layout.resolve("v1", AMD64).manifest == manifest
    assert not (layout.path / INGEST_DIR).exists()
    assert len(layout_files(layout.path / "blobs")) == 1 + 4  # sha256/ and 4 blobs

    images = ImageStore(tmp_path / "other")
    try:
        target = layout.copy_to(images.content, "v1")
        assert REF_NAME not in target.annotations and target.digest == desc.digest
        images.put("localhost/app:v1", target)
        assert images.resolve("localhost/app:v1", AMD64).manifest == manifest
    finally:
        images.close()


def test_tags_move_and_entries_go(tmp_path: Path, store: ContentStore) -> None:
    one, _ = add_manifest(store)
    two, _ = add_manifest(store)
    layout = ImageLayout.create(tmp_path / "oci")
    layout.copy_from(store, one, tag="latest")
    layout.copy_from(store, one, tag="stable")
    layout.copy_from(store, two, tag="latest")
    assert layout.tags() == ["stable", "latest"]
    assert layout.find("latest").digest == two.digest
    layout.add(two)  # untagged entries are listed too, once
    layout.add(two)
    assert len(layout.index().manifests) == 3
    layout.remove("stable")
    assert layout.tags() == ["latest"]
    with pytest.raises(NotFound, match=re.escape("no image 'stable' in index.json (tags: latest)")):
        layout.find("stable")


def test_index_of_manifests_and_platform_errors(tmp_path: Path, store: ContentStore) -> None:
    index = add_index(store, ("amd64", "arm"), docker=True)
    layout = ImageLayout.create(tmp_path / "oci")
    layout.copy_from(store, index, tag="multi")
    assert layout.resolve("multi", Platform.parse("linux/arm/v7")).config.architecture == "arm"
    with pytest.raises(
        NotFound,
        match="no manifest for platform linux/riscv64 in index; available: linux/amd64, linux/arm/v7",
    ):
        layout.resolve("multi", Platform.parse("linux/riscv64"))


@pytest.mark.parametrize("tag", ["", "a b", "-x", "x/", "ä", "a::b", "v1\n"])
def test_bad_tags_are_refused(tmp_path: Path, store: ContentStore, tag: str) -> None:
    desc, _ = add_manifest(store)
    layout = ImageLayout.create(tmp_path / "oci")
    with pytest.raises(InvalidArgument, match="invalid image layout tag"):
        layout.copy_from(store, desc, tag=tag)
    assert layout_files(layout.path) == ["blobs", "index.json", "oci-layout"]


def test_add_needs_the_blob_and_a_manifest(tmp_path: Path, store: ContentStore) -> None:
    desc, manifest = add_manifest(store)
    layout = ImageLayout.create(tmp_path / "oci")
    with pytest.raises(NotFound, match=f"blob {desc.digest} is not in the layout"):
        layout.add(desc, "t")
    with pytest.raises(InvalidArgument, match="want a manifest or index"):
        layout.add(manifest.config, "t")
    assert layout.tags() == []


def test_corrupt_source_blob_leaves_nothing(tmp_path: Path, store: ContentStore) -> None:
    desc, manifest = add_manifest(store)
    layer = store.path(manifest.layers[1].digest)
    os.chmod(layer, 0o644)
    layer.write_bytes(b"not the layer")
    layout = ImageLayout.create(tmp_path / "oci")
    with pytest.raises(DigestMismatch, match="expected"):
        layout.copy_from(store, desc, tag="v1")
    assert layout.tags() == []
    assert manifest.layers[1].digest not in {i.digest for i in layout.blobs.list()}
    assert desc.digest not in {i.digest for i in layout.blobs.list()}  # children first, the manifest last
    assert not (layout.path / INGEST_DIR).exists()


def test_missing_blob_in_layout_is_named(tmp_path: Path, store: ContentStore) -> None:
    desc, manifest = add_manifest(store)
    layout = ImageLayout.create(tmp_path / "oci")
    layout.copy_from(store, desc, tag="v1")
    layout.blobs.delete(manifest.config.digest)
    with pytest.raises(NotFound, match=f"config {manifest.config.digest} is missing"):
        layout.resolve("v1", AMD64)
    with pytest.raises(NotFound, match=f"blob {manifest.config.digest} .* is missing from"):
        layout.copy_to(store, "v1")


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (b'{"schemaVersion": 2, "manifests": [', "index.json: manifest: not valid JSON"),
        (b"", "index.json: manifest: not valid JSON"),
        (b'{"schemaVersion": 2}', r"index.json: index\.manifests: required field missing"),
        (
            b'{"schemaVersion": 2, "manifests": [{"mediaType": "x"}]}',
            r"index.json: index\.manifests\[0\]\.mediaType",
        ),
        (
            b'{"schemaVersion": 2, "config": {}, "layers": []}',
            "index.json: index: an index has no config or layers",
        ),
    ],
)
def test_malformed_index_json(tmp_path: Path, index: bytes, message: str) -> None:
    layout = ImageLayout.create(tmp_path / "oci")
    (layout.path / "index.json").write_bytes(index)
    with pytest.raises(InvalidArgument, match=message):
        ImageLayout(layout.path)


def test_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="oci-layout is missing"):
        ImageLayout(tmp_path)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(InvalidArgument, match=re.escape("unsupported imageLayoutVersion '2.0.0'")):
        ImageLayout(tmp_path)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    with pytest.raises(NotFound, match=r"index\.json is missing"):
        ImageLayout(tmp_path)


def test_descriptor_platform_kept_in_index(tmp_path: Path, store: ContentStore) -> None:
    desc, _ = add_manifest(store, arch="arm64")
    layout = ImageLayout.create(tmp_path / "oci")
    layout.copy_from(store, desc, tag="x")
    raw = json.loads((layout.path / "index.json").read_bytes())
    assert raw["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux"}
    assert layout.copy_to(store, "x") == Descriptor(
        desc.media_type, desc.digest, desc.size, platform=desc.platform
    )


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.text(max_size=20))
def test_ref_name_check_accepts_exactly_the_grammar(name: str) -> None:
    grammar = re.fullmatch(
        r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*",
        name,
        re.ASCII,
    )
    try:
        assert check_ref_name(name) == name and grammar
    except InvalidArgument:
        assert not grammar
