"""Manifest endpoints, tags, referrers and the catalog (spec.md#pulling-manifests, #pushing-manifests,
#content-discovery, #content-management) against a live registry."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from berth.distribution.server import RegistryConfig
from tests.integration.registry_server.harness import (
    Server,
    descriptor,
    image_manifest,
    running_registry,
)

pytestmark = pytest.mark.timeout(60)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def test_push_by_tag_pull_by_tag_and_digest_byte_for_byte(registry: Server) -> None:
    manifest = image_manifest(registry, "app", [b"layer"])
    # Odd spacing and key order must survive: the registry stores the bytes as pushed.
    body = json.dumps(manifest, indent=3, sort_keys=True).encode() + b"\n"
    put = registry.push_manifest("app", "v1", body, OCI_MANIFEST)
    assert put.status == 201
    digest = digest_of(body)
    assert put.headers["Docker-Content-Digest"] == digest
    assert put.headers["Location"] == f"/v2/app/manifests/{digest}"
    for ref in ("v1", digest):
        got = registry.request("GET", f"/v2/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert got.status == 200 and got.body == body
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        head = registry.request("HEAD", f"/v2/app/manifests/{ref}")
        assert head.status == 200 and head.headers["Content-Length"] == str(len(body))


def test_docker_media_types(registry: Server) -> None:
    manifest = image_manifest(registry, "d", [b"l"])
    manifest["mediaType"] = DOCKER_MANIFEST
    manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    assert registry.push_manifest("d", "latest", manifest).status == 201
    child = json.dumps(manifest).encode()
    listing = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {**descriptor(child, DOCKER_MANIFEST), "platform": {"os": "linux", "architecture": "amd64"}}
        ],
    }
    assert registry.push_manifest("d", "list", listing).status == 201
    got = registry.request("GET", "/v2/d/manifests/list")
    assert got.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.list.v2+json"


def test_accept_header_negotiation(registry: Server) -> None:
    registry.push_manifest("n", "v1", image_manifest(registry, "n", [b"x"]))
    index_only = registry.request("GET", "/v2/n/manifests/v1", headers={"Accept": OCI_INDEX})
    assert index_only.status == 404 and index_only.error_codes() == ["MANIFEST_UNKNOWN"]
    several = registry.request(
        "GET", "/v2/n/manifests/v1", headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST};q=0.9"}
    )
    assert several.status == 200
    assert registry.request("GET", "/v2/n/manifests/v1", headers={"Accept": "*/*"}).status == 200


def test_manifest_naming_missing_blobs_is_refused(registry: Server) -> None:
    manifest = image_manifest(registry, "m", [b"present"])
    manifest["layers"].append(descriptor(b"never pushed", "application/vnd.oci.image.layer.v1.tar"))
    reply = registry.push_manifest("m", "v1", manifest)
    assert reply.status == 400 and reply.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]
    assert registry.request("GET", "/v2/m/manifests/v1").status == 404
    assert registry.request("GET", "/v2/m/tags/list").json()["tags"] == []


def test_index_naming_missing_manifest_is_refused(registry: Server) -> None:
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(b"{}", OCI_MANIFEST)]}
    reply = registry.push_manifest("m", "idx", index)
    assert reply.status == 400 and reply.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]


def test_nondistributable_layers_and_missing_subject_are_allowed(registry: Server) -> None:
    manifest = image_manifest(registry, "m", [])
    manifest["layers"] = [
        {
            **descriptor(b"foreign", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            "urls": ["https://example.invalid/layer"],
        }
    ]
    manifest["subject"] = descriptor(b"absent", OCI_MANIFEST)
    reply = registry.push_manifest("m", "v1", manifest)
    assert reply.status == 201 and reply.headers["OCI-Subject"] == digest_of(b"absent")


def test_allow_sparse_accepts_missing_references(tmp_path: Path) -> None:
    with running_registry(RegistryConfig(root=tmp_path / "r", allow_sparse=True)) as server:
        manifest = image_manifest(server, "m", [])
        manifest["layers"] = [descriptor(b"never pushed", "application/vnd.oci.image.layer.v1.tar")]
        assert server.push_manifest("m", "v1", manifest).status == 201


def test_manifest_over_4_mib_is_refused(registry: Server) -> None:
    manifest = image_manifest(registry, "big", [])
    manifest["annotations"] = {"pad": "x" * (4 * 1024 * 1024)}
    reply = registry.push_manifest("big", "v1", manifest)
    assert reply.status == 413 and reply.error_codes() == ["SIZE_INVALID"]
    assert registry.request("GET", "/v2/big/manifests/v1").status == 404


def test_manifest_just_under_4_mib_is_accepted(registry: Server) -> None:
    manifest = image_manifest(registry, "big", [])
    manifest["annotations"] = {"pad": ""}
    size = len(json.dumps(manifest).encode())
    manifest["annotations"]["pad"] = "x" * (4 * 1024 * 1024 - size)
    assert registry.push_manifest("big", "v1", manifest).status == 201


def test_digest_mismatch_and_invalid_manifests(registry: Server) -> None:
    manifest = image_manifest(registry, "m", [b"l"])
    body = json.dumps(manifest).encode()
    wrong = registry.push_manifest("m", digest_of(body + b" "), body)
    assert wrong.status == 400 and wrong.error_codes() == ["DIGEST_INVALID"]
    not_json = registry.push_manifest("m", "v1", b"{not json", OCI_MANIFEST)
    assert not_json.status == 400 and not_json.error_codes() == ["MANIFEST_INVALID"]
    clash = registry.push_manifest("m", "v1", body, OCI_INDEX)
    assert clash.status == 400 and clash.error_codes() == ["MANIFEST_INVALID"]
    bad_tag = registry.push_manifest("m", "-bad", body)
    assert bad_tag.status == 400 and bad_tag.error_codes() == ["MANIFEST_INVALID"]
    assert registry.request("GET", "/v2/m/tags/list").json()["tags"] == []


def test_tag_parameters_on_push_by_digest(registry: Server) -> None:
    body = json.dumps(image_manifest(registry, "t", [b"l"])).encode()
    reply = registry.request(
        "PUT", f"/v2/t/manifests/{digest_of(body)}?tag=a&tag=b", body, {"Content-Type": OCI_MANIFEST}
    )
    assert reply.status == 201
    assert reply.headers.get_all("OCI-Tag") == ["a", "b"]
    assert registry.request("GET", "/v2/t/tags/list").json() == {"name": "t", "tags": ["a", "b"]}


def test_delete_tag_and_manifest(registry: Server) -> None:
    body = json.dumps(image_manifest(registry, "x", [b"l"])).encode()
    registry.push_manifest("x", "keep", body)
    registry.push_manifest("x", "drop", body)
    assert registry.request("DELETE", "/v2/x/manifests/drop").status == 202
    assert registry.request("GET", "/v2/x/manifests/drop").status == 404
    assert registry.request("GET", "/v2/x/manifests/keep").status == 200
    assert registry.request("DELETE", f"/v2/x/manifests/{digest_of(body)}").status == 202
    assert registry.request("GET", "/v2/x/manifests/keep").status == 404
    assert registry.request("DELETE", f"/v2/x/manifests/{digest_of(body)}").status == 404
    assert registry.request("DELETE", "/v2/nothing/manifests/latest").error_codes() == ["NAME_UNKNOWN"]


def test_tags_list_pagination(registry: Server) -> None:
    body = json.dumps(image_manifest(registry, "p", [b"l"])).encode()
    for tag in ("c", "a", "B", "b"):
        registry.push_manifest("p", tag, body)
    assert registry.request("GET", "/v2/p/tags/list").json()["tags"] == ["B", "a", "b", "c"]
    page = registry.request("GET", "/v2/p/tags/list?n=2")
    assert page.json()["tags"] == ["B", "a"]
    assert page.headers["Link"] == '</v2/p/tags/list?n=2&last=a>; rel="next"'
    assert registry.request("GET", "/v2/p/tags/list?n=2&last=a").json()["tags"] == ["b", "c"]
    assert "Link" not in registry.request("GET", "/v2/p/tags/list?n=2&last=a").headers
    empty = registry.request("GET", "/v2/p/tags/list?n=0")
    assert empty.json()["tags"] == [] and "Link" not in empty.headers
    assert registry.request("GET", "/v2/unknown/tags/list").error_codes() == ["NAME_UNKNOWN"]


def test_catalog_pagination(registry: Server) -> None:
    for name in ("b/two", "a", "b/one"):
        registry.push_blob(name, b"x")
    assert registry.request("GET", "/v2/_catalog").json() == {"repositories": ["a", "b/one", "b/two"]}
    page = registry.request("GET", "/v2/_catalog?n=1&last=a")
    assert page.json() == {"repositories": ["b/one"]}
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=b%2Fone>; rel="next"'


def test_referrers_with_artifact_type_filter(registry: Server) -> None:
    subject_body = json.dumps(image_manifest(registry, "s", [b"l"])).encode()
    registry.push_manifest("s", "v1", subject_body)
    subject = descriptor(subject_body, OCI_MANIFEST)
    empty = b"{}"
    registry.push_blob("s", empty)
    digests = {}
    for kind in ("sbom", "signature"):
        referrer = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": f"application/vnd.example.{kind}",
            "config": descriptor(empty, "application/vnd.oci.empty.v1+json"),
            "layers": [],
            "subject": subject,
            "annotations": {"kind": kind},
        }
        body = json.dumps(referrer).encode()
        put = registry.push_manifest("s", digest_of(body), body)
        assert put.status == 201 and put.headers["OCI-Subject"] == subject["digest"]
        digests[kind] = digest_of(body)
    listing = registry.request("GET", f"/v2/s/referrers/{subject['digest']}")
    assert listing.status == 200 and listing.headers["Content-Type"] == OCI_INDEX
    entries = {m["digest"]: m for m in listing.json()["manifests"]}
    assert entries[digests["sbom"]]["artifactType"] == "application/vnd.example.sbom"
    assert entries[digests["sbom"]]["annotations"] == {"kind": "sbom"}
    filtered = registry.request(
        "GET", f"/v2/s/referrers/{subject['digest']}?artifactType=application/vnd.example.signature"
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [digests["signature"]]
    registry.request("DELETE", f"/v2/s/manifests/{digests['sbom']}")
    after = registry.request("GET", f"/v2/s/referrers/{subject['digest']}").json()["manifests"]
    assert [m["digest"] for m in after] == [digests["signature"]]
    assert registry.request("GET", "/v2/s/referrers/sha256:bad").status == 400
    nothing = registry.request("GET", f"/v2/none/referrers/{digest_of(b'x')}")
    assert nothing.status == 200 and nothing.json()["manifests"] == []


def test_concurrent_pushes_of_the_same_blob_and_tag(registry: Server) -> None:
    data = bytes(range(256)) * 4096
    manifests = [image_manifest(registry, "c", [data, f"layer {i}".encode()]) for i in range(8)]
    results: list[int] = []

    def push(i: int) -> None:
        results.append(
            registry.request("POST", f"/v2/c/blobs/uploads/?digest={digest_of(data)}", data).status
        )
        results.append(registry.push_manifest("c", "latest", manifests[i]).status)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 16
    assert registry.request("GET", f"/v2/c/blobs/{digest_of(data)}").body == data
    final = registry.request("GET", "/v2/c/manifests/latest")
    assert final.status == 200 and json.loads(final.body) in manifests
