"""oci-archive and docker-archive transports, and verification that leaves nothing behind."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from berth.distribution.transports import TransportContext, copy
from berth.errors import DigestMismatch, InvalidArgument
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import layout_entry, make_layout

pytestmark = pytest.mark.timeout(120)


def test_oci_archive_round_trip_keeps_digest(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"f": b"data"}])
    archive = tmp_path / "img.tar"
    assert str(copy(f"oci:{tmp_path / 'src'}:v1", f"oci-archive:{archive}:v1", ctx).manifest.digest) == digest
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "index.json", f"blobs/sha256/{digest.split(':')[1]}"} <= names
    pushed = copy(f"oci-archive:{archive}:v1", f"docker://{registry.host}/arch/oci:v1", ctx)
    assert str(pushed.manifest.digest) == digest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".berth-archive-")]


def test_docker_archive_written_and_read_back(tmp_path: Path, ctx: TransportContext) -> None:
    make_layout(tmp_path / "src", "v1", [{"a": b"1"}, {"b": b"2"}])
    archive = tmp_path / "saved.tar"
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker-archive:{archive}:example.com/app:1.0", ctx)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        names = set(tar.getnames())
    [entry] = manifest
    assert entry["RepoTags"] == ["example.com/app:1.0"]
    assert entry["Config"] in names and all(layer in names for layer in entry["Layers"])
    assert list(repositories) == ["example.com/app"]

    back = copy(f"docker-archive:{archive}:example.com/app:1.0", f"oci:{tmp_path / 'back'}:x", ctx)
    doc = json.loads((tmp_path / "back/blobs/sha256" / back.manifest.digest.encoded).read_text())
    assert [layer["mediaType"] for layer in doc["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ] * 2
    src_manifest = json.loads(
        (
            tmp_path / "src/blobs/sha256" / str(layout_entry(tmp_path / "src", "v1")["digest"]).split(":")[1]
        ).read_text()
    )
    assert [layer["digest"] for layer in doc["layers"]] == [
        layer["digest"] for layer in src_manifest["layers"]
    ]
    with pytest.raises(Exception, match="no image tagged"):
        copy(f"docker-archive:{archive}:other:tag", f"oci:{tmp_path / 'none'}", ctx)


def test_corrupt_blob_is_rejected_and_nothing_is_stored(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    src = tmp_path / "src"
    digest = make_layout(src, "v1", [{"f": b"original content"}])
    manifest = json.loads((src / "blobs/sha256" / digest.split(":")[1]).read_text())
    layer = src / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    layer.write_bytes(bytes(data))
    dst = tmp_path / "dst"
    with pytest.raises(DigestMismatch, match="hashes to"):
        copy(f"oci:{src}:v1", f"oci:{dst}:v1", ctx)
    assert (
        not (dst / "index.json").exists() or json.loads((dst / "index.json").read_text())["manifests"] == []
    )
    stored = list((dst / "blobs").rglob("*")) if dst.exists() else []
    assert manifest["layers"][0]["digest"].split(":")[1] not in [p.name for p in stored]
    assert not (dst / ".berth-ingest").exists()  # the aborted ingest is gone
    with pytest.raises(DigestMismatch):
        copy(f"oci:{src}:v1", f"docker://{registry.host}/corrupt/app:v1", ctx)
    with pytest.raises(Exception, match="manifest unknown"):
        copy(f"docker://{registry.host}/corrupt/app:v1", f"oci:{tmp_path / 'x'}", ctx)


def test_bad_transport_names(tmp_path: Path, ctx: TransportContext) -> None:
    with pytest.raises(InvalidArgument, match="invalid image name"):
        copy("nope:x", f"oci:{tmp_path}", ctx)
