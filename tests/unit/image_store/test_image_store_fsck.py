"""image/fsck.py: corrupt blobs, stray files, missing and invalid blobs of images."""

from __future__ import annotations

import os

from berth.image.fsck import CORRUPT, INVALID, MISSING, STRAY, fsck
from berth.image.images import ImageStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex
from tests.unit.image_store.imagefactory import add_index, add_manifest


def test_clean_store_has_no_problems(images: ImageStore) -> None:
    assert fsck(images.content, images) == []
    images.create("a", add_index(images.content))
    images.create("b", add_manifest(images.content, docker=True)[0])
    assert fsck(images.content, images) == []


def test_corrupt_blob_is_reported_and_repaired(images: ImageStore) -> None:
    d = images.content.put(b"original")
    path = images.content.path(d)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    [problem] = fsck(images.content)
    assert (problem.kind, problem.subject) == (CORRUPT, str(d))
    assert str(problem) == f"blob {d} is corrupt: its content hashes to {Digest.of(b'tampered')}"
    [repaired] = fsck(images.content, repair=True)
    assert repaired.message.endswith("; removed") and not images.content.exists(d)
    assert fsck(images.content) == []


def test_stray_files_are_reported(images: ImageStore) -> None:
    images.content.put(b"x")
    (images.content.blobs / "sha256" / "not-a-digest").write_bytes(b"")
    (images.content.blobs / "md5").mkdir()
    (images.content.blobs / "md5" / ("0" * 32)).write_bytes(b"")
    assert sorted(p.kind for p in fsck(images.content)) == [STRAY, STRAY]


def test_missing_and_invalid_blobs_of_images(images: ImageStore) -> None:
    desc, manifest = add_manifest(images.content)
    images.create("img", desc)
    images.content.delete(manifest.layers[0].digest)
    bogus = images.content.put(b'{"schemaVersion": 3}')
    images.create("bad", Descriptor(mt.OCI_MANIFEST, bogus, 20))
    problems = fsck(images.content, images)
    assert [(p.kind, p.subject) for p in problems] == [
        (INVALID, str(bogus)),
        (MISSING, str(manifest.layers[0].digest)),
    ]
    assert problems[1].message == (
        f"image docker.io/library/img:latest: {mt.OCI_LAYER_GZIP} {manifest.layers[0].digest} is missing"
    )


def test_index_entries_for_other_platforms_may_be_absent(images: ImageStore) -> None:
    index = add_index(images.content, ("amd64", "arm64"))
    images.create("multi", index)
    entry = ImageIndex.parse(images.content.read(index.digest)).manifests[1]
    images.content.delete(entry.digest)
    assert fsck(images.content, images) == []
