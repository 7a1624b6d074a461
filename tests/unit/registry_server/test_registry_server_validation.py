"""Reading pushed manifests leniently (server/validation.py)."""

from __future__ import annotations

import json

import pytest

from berth.distribution.server.errors import RegistryError
from berth.distribution.server.validation import inspect_manifest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def manifest(**extra: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.config", "digest": D1, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D2, "size": 3}],
        **extra,
    }
    return json.dumps(doc).encode()


def test_image_manifest_fields() -> None:
    info = inspect_manifest(manifest(annotations={"a": "b"}, custom={"x": 1}), OCI_MANIFEST)
    assert [str(b.digest) for b in info.blobs] == [D1, D2]
    assert info.artifact_type == "application/vnd.example.config"
    assert info.annotations == {"a": "b"} and info.subject is None


def test_artifact_type_and_subject() -> None:
    subject = {"mediaType": OCI_MANIFEST, "digest": D2, "size": 10}
    info = inspect_manifest(
        manifest(artifactType="application/x", subject=subject), "application/octet-stream"
    )
    assert info.artifact_type == "application/x" and str(info.subject) == D2


def test_index() -> None:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": D1, "size": 5}],
        }
    ).encode()
    info = inspect_manifest(body, OCI_INDEX)
    assert [str(d) for d in info.manifests] == [D1] and info.artifact_type is None


def test_nondistributable_layers_are_marked() -> None:
    layer = {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar", "digest": D2, "size": 1}
    body = manifest(layers=[layer])
    assert inspect_manifest(body, OCI_MANIFEST).blobs[1].nondistributable


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", OCI_MANIFEST),
        (b"\xff", OCI_MANIFEST),
        (manifest(), OCI_INDEX),
        (manifest(schemaVersion=1), OCI_MANIFEST),
        (manifest(layers={}), OCI_MANIFEST),
        (manifest(config={"digest": D1}), OCI_MANIFEST),
        (manifest(config={"mediaType": "x", "digest": "nope", "size": 1}), OCI_MANIFEST),
        (manifest(config={"mediaType": "x", "digest": D1, "size": True}), OCI_MANIFEST),
        (json.dumps({"schemaVersion": 2}).encode(), "application/vnd.example.unknown"),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str) -> None:
    with pytest.raises(RegistryError) as err:
        inspect_manifest(body, content_type)
    assert err.value.code.code == "MANIFEST_INVALID"
