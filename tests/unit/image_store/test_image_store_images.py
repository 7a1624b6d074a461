"""image/images.py: named image records, resolution to a platform, and garbage collection."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.image.images import ImageStore
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageManifest
from berth.spec.platform import Platform
from tests.unit.image_store.imagefactory import add_index, add_manifest


def blobs(images: ImageStore) -> set[Digest]:
    return {i.digest for i in images.content.list()}


def test_records_are_keyed_by_normalized_name(images: ImageStore) -> None:
    desc, _ = add_manifest(images.content)
    img = images.create("alpine", desc, labels={"k": "v"})
    assert img.name == "docker.io/library/alpine:latest"
    assert images.get("docker.io/library/alpine") == img
    with pytest.raises(
        AlreadyExists, match=re.escape("image docker.io/library/alpine:latest already exists")
    ):
        images.create("library/alpine:latest", desc)
    other, _ = add_manifest(images.content)
    updated = images.update("alpine", other)
    assert (updated.target, updated.labels, updated.created) == (other, {"k": "v"}, img.created)
    images.put("localhost:5000/app:v1", desc)
    assert [i.name for i in images.list()] == ["docker.io/library/alpine:latest", "localhost:5000/app:v1"]
    images.delete("alpine")
    for call in (images.get, images.delete):
        with pytest.raises(NotFound, match=re.escape("image docker.io/library/alpine:latest not found")):
            call("alpine")
    with pytest.raises(NotFound):
        images.update("alpine", desc)
    with pytest.raises(InvalidArgument, match="invalid reference"):
        images.create("Not A Name", desc)


def test_records_are_shared_between_store_objects(tmp_path: Path) -> None:
    one, two = ImageStore(tmp_path / "s"), ImageStore(tmp_path / "s")
    desc, _ = add_manifest(one.content)
    one.create("a", desc)
    assert two.get("a").target == desc
    one.close()
    two.close()


def test_resolve_follows_index_to_platform(images: ImageStore) -> None:
    index = add_index(images.content, ("amd64", "arm64"))
    images.create("multi", index)
    resolved = images.resolve("multi", Platform.parse("linux/arm64"))
    assert resolved.config.architecture == "arm64"
    assert resolved.descriptor.platform == Platform("linux", "arm64")
    assert len(resolved.manifest.layers) == 2


def test_resolve_names_the_missing_platform(images: ImageStore) -> None:
    images.create("multi", add_index(images.content, ("amd64", "arm64")))
    with pytest.raises(NotFound) as err:
        images.resolve("multi", Platform.parse("linux/ppc64le"))
    assert str(err.value) == (
        "image docker.io/library/multi:latest: no manifest for platform linux/ppc64le in index; "
        "available: linux/amd64, linux/arm64/v8"
    )


@pytest.mark.parametrize("missing", ["manifest", "config", "layer"])
def test_resolve_names_the_missing_blob(images: ImageStore, missing: str) -> None:
    desc, manifest = add_manifest(images.content)
    images.create("img", desc)
    gone = {"manifest": desc, "config": manifest.config, "layer": manifest.layers[1]}[missing]
    images.content.delete(gone.digest)
    expected = {
        "manifest": f"manifest {desc.digest} is missing",
        "config": f"config {manifest.config.digest} is missing",
        "layer": f"layer 1 ({manifest.layers[1].digest}) is missing",
    }[missing]
    with pytest.raises(
        NotFound,
        match="^" + re.escape(f"image docker.io/library/img:latest: {expected}"),
    ):
        images.resolve("img", Platform.parse("linux/amd64"))


def test_gc_keeps_what_images_reference(images: ImageStore) -> None:
    index = add_index(images.content)
    single, _ = add_manifest(images.content, docker=True)
    images.create("multi", index)
    images.create("single", single)
    kept = blobs(images)
    junk = images.content.put(b"unreferenced")
    report = images.gc()
    assert report.removed_blobs == [junk] and report.freed_bytes == len(b"unreferenced")
    assert blobs(images) == kept
    images.delete("multi")
    images.gc()
    assert images.resolve("single", Platform.parse("linux/amd64")).manifest.is_docker
    images.delete("single")
    images.gc()
    assert blobs(images) == set()


def test_gc_keeps_referrers_while_their_subject_lives(images: ImageStore) -> None:
    desc, _ = add_manifest(images.content)
    images.create("app", desc)
    sig, sig_manifest = add_manifest(images.content, layers=1, subject=desc)
    sbom, sbom_manifest = add_manifest(images.content, layers=1, subject=sig)  # a referrer of a referrer
    images.gc()
    for d in (sig.digest, sig_manifest.layers[0].digest, sbom.digest, sbom_manifest.config.digest):
        assert images.content.exists(d)
    images.delete("app")
    images.gc()
    assert blobs(images) == set()


def test_gc_respects_leases_and_their_expiry(images: ImageStore) -> None:
    leases = images.content.leases
    live = leases.create("pull", expires_in=3600)
    short = leases.create("short", expires_in=0.01)
    desc, manifest = add_manifest(images.content, lease=live.id)
    doomed = images.content.put(b"short-lived", lease=short)
    time.sleep(0.02)
    report = images.gc()
    assert report.removed_blobs == [doomed] and report.expired_leases == 1
    assert images.content.exists(manifest.layers[0].digest)
    leases.delete("pull")
    images.gc()
    assert blobs(images) == set()
    assert desc.media_type == mt.OCI_MANIFEST


def test_leased_manifest_keeps_its_children_even_if_only_it_is_leased(images: ImageStore) -> None:
    desc, manifest = add_manifest(images.content)
    lease = images.content.leases.create()
    assert images.content.protect(desc.digest, lease)
    images.gc()
    assert blobs(images) == {
        desc.digest,
        manifest.config.digest,
        *(layer.digest for layer in manifest.layers),
    }


def test_gc_removes_stale_ingests_only(images: ImageStore) -> None:
    content = images.content
    with content.writer("abandoned") as w:
        w.write(b"partial")
    lease = content.leases.create()
    with content.writer("leased", lease=lease) as w:
        w.write(b"partial")
    active = content.writer("active")
    active.write(b"partial")
    assert images.gc(ingest_grace=3600).removed_ingests == []  # all recent
    report = images.gc(ingest_grace=0)
    assert report.removed_ingests == ["abandoned"]
    assert [s.ref for s in content.ingests()] == ["active", "leased"]
    active.commit()
    assert [s.ref for s in content.ingests()] == ["leased"]
    assert images.gc(ingest_grace=0).removed_blobs == [Digest.of(b"partial")]


def test_gc_removes_an_ingest_its_killed_writer_left_without_data(images: ImageStore) -> None:
    """A writer killed after making its directory and ref file but before opening its data leaves
    an ingest that ``ingests`` does not list; gc removes it once no writer holds its lock."""
    from berth.image.store.ingest import ingest_dir, try_lock

    content = images.content
    left = ingest_dir(content.ingest_root, "killed")
    left.mkdir(parents=True)
    (left / "ref").write_text("killed")
    held = try_lock(left)  # a writer still alive between its mkdir and its data
    assert held is not None
    try:
        assert images.gc(ingest_grace=0).removed_ingests == []
    finally:
        os.close(held)
    assert content.ingests() == []  # not a complete ingest
    assert images.gc(ingest_grace=3600).removed_ingests == []  # recent
    assert images.gc(ingest_grace=0).removed_ingests == [left.name]
    assert not left.exists()


def test_gc_skips_missing_children_and_reports_nothing_odd(images: ImageStore) -> None:
    desc, manifest = add_manifest(images.content)
    images.create("img", desc)
    images.content.delete(manifest.layers[0].digest)
    assert images.gc().removed_blobs == []


def test_gc_refuses_to_run_on_an_unreadable_record(images: ImageStore) -> None:
    desc, _ = add_manifest(images.content)
    images.create("img", desc)
    images.content.leases.conn.execute("UPDATE images SET target = '{}'")
    with pytest.raises(InvalidArgument, match=re.escape("image docker.io/library/img:latest: target")):
        images.gc()
    assert images.content.exists(desc.digest)


def test_manifest_blob_with_wrong_size_in_record(images: ImageStore) -> None:
    desc, _ = add_manifest(images.content)
    images.create("img", Descriptor(desc.media_type, desc.digest, desc.size + 1))
    with pytest.raises(NotFound, match="has size"):
        images.resolve("img", Platform.parse("linux/amd64"))
    assert isinstance(ImageManifest.parse(images.content.read(desc.digest)), ImageManifest)
    assert os.path.exists(images.content.root / "metadata.db")
