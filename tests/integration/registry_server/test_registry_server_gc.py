"""Garbage collection and the cleanup of abandoned uploads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berth.distribution.storage import FilesystemDriver, RegistryStore, clean_uploads, collect_garbage
from tests.integration.registry_server.harness import Server, image_manifest

pytestmark = pytest.mark.timeout(60)


def age(root: Path, seconds: float) -> None:
    """Make every file under ``root`` look ``seconds`` old."""
    past = time.time() - seconds
    for directory, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(directory, name), (past, past))


def store_of(server: Server) -> RegistryStore:
    return RegistryStore(FilesystemDriver(server.root))


def test_gc_keeps_referenced_and_young_blobs_and_deletes_the_rest(registry: Server) -> None:
    manifest = image_manifest(registry, "app", [b"kept layer"])
    registry.push_manifest("app", "v1", manifest)
    orphan = registry.push_blob("app", b"orphan")
    age(registry.root, 7200)
    young = registry.push_blob("app", b"young orphan")
    report = asyncio.run(collect_garbage(store_of(registry), grace=3600, upload_max_age=86400))
    assert report.deleted_blobs == [orphan]
    assert registry.request("HEAD", f"/v2/app/blobs/{orphan}").status == 404
    assert registry.request("HEAD", f"/v2/app/blobs/{young}").status == 200
    for desc in (manifest["config"], *manifest["layers"]):
        assert registry.request("HEAD", f"/v2/app/blobs/{desc['digest']}").status == 200
    assert registry.request("GET", "/v2/app/manifests/v1").status == 200
    assert not (registry.root / "repositories/app/_layers/sha256" / orphan.split(":")[1]).exists()


def test_gc_collects_blobs_of_a_deleted_manifest(registry: Server) -> None:
    manifest = image_manifest(registry, "app", [b"layer of a deleted image"])
    put = registry.push_manifest("app", "v1", manifest)
    registry.request("DELETE", f"/v2/app/manifests/{put.headers['Docker-Content-Digest']}")
    age(registry.root, 7200)
    report = asyncio.run(collect_garbage(store_of(registry), grace=3600, upload_max_age=86400))
    assert len(report.deleted_blobs) == 3  # the manifest, its config and its layer


def test_gc_while_a_manifest_push_refreshes_its_blobs(registry: Server) -> None:
    manifest = image_manifest(registry, "app", [b"old layer reused"])
    age(registry.root, 7200)
    # The manifest arrives after the blobs aged: pushing it refreshes their clock, so a collection
    # that marked before the manifest existed still spares them.
    assert registry.push_manifest("app", "v1", manifest).status == 201
    registry.request("DELETE", "/v2/app/manifests/v1")
    report = asyncio.run(collect_garbage(store_of(registry), grace=3600, upload_max_age=86400))
    assert report.deleted_blobs == []


def test_dry_run_deletes_nothing(registry: Server) -> None:
    orphan = registry.push_blob("app", b"orphan")
    age(registry.root, 7200)
    report = asyncio.run(collect_garbage(store_of(registry), grace=3600, upload_max_age=86400, dry_run=True))
    assert report.deleted_blobs == [orphan]
    assert registry.request("HEAD", f"/v2/app/blobs/{orphan}").status == 200


def test_abandoned_upload_is_cleaned_up(registry: Server) -> None:
    old = registry.request("POST", "/v2/app/blobs/uploads/").headers["Location"]
    registry.request("PATCH", old, b"half a blob")
    age(registry.root, 7200)
    fresh = registry.request("POST", "/v2/app/blobs/uploads/").headers["Location"]
    report = asyncio.run(clean_uploads(store_of(registry), max_age=3600))
    assert report.deleted_uploads == [f"app/{old.rsplit('/', 1)[1]}"]
    assert registry.request("GET", old).status == 404
    assert registry.request("GET", fresh).status == 204


def test_gc_command_line(registry: Server) -> None:
    registry.push_blob("app", b"orphan for the cli")
    age(registry.root, 7200)
    out = subprocess.run(
        [sys.executable, "-m", "berth.cli.main", "registry", "gc", "--root", str(registry.root)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "deleted 1 blobs" in out
    assert json.loads(registry.request("GET", "/v2/_catalog").body) == {"repositories": ["app"]}


def test_gc_spares_a_blob_mounted_after_it_aged(registry: Server) -> None:
    digest = registry.push_blob("src", b"old unreferenced blob")
    age(registry.root, 7200)
    assert registry.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}&from=src").status == 201
    report = asyncio.run(collect_garbage(store_of(registry), grace=3600, upload_max_age=86400))
    assert report.deleted_blobs == []
    assert registry.request("HEAD", f"/v2/dst/blobs/{digest}").status == 200
