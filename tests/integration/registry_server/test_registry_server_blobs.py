"""Blob endpoints and uploads (spec.md#pulling-blobs, #pushing-blobs) against a live registry."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from tests.integration.registry_server.harness import Server

pytestmark = pytest.mark.timeout(60)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def blob_files(server: Server) -> list[str]:
    return [f for _, _, files in os.walk(server.root / "blobs") for f in files]


def test_monolithic_post_then_get_head_and_delete(registry: Server) -> None:
    data = os.urandom(3000)
    digest = registry.push_blob("lib/app", data)
    got = registry.request("GET", f"/v2/lib/app/blobs/{digest}")
    assert got.status == 200 and got.body == data
    assert got.headers["Docker-Content-Digest"] == digest
    assert got.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    head = registry.request("HEAD", f"/v2/lib/app/blobs/{digest}")
    assert head.status == 200 and head.headers["Content-Length"] == "3000" and head.body == b""
    assert registry.request("DELETE", f"/v2/lib/app/blobs/{digest}").status == 202
    gone = registry.request("GET", f"/v2/lib/app/blobs/{digest}")
    assert gone.status == 404 and gone.error_codes() == ["BLOB_UNKNOWN"]


def test_blob_is_scoped_to_its_repository(registry: Server) -> None:
    digest = registry.push_blob("one", b"shared")
    assert registry.request("HEAD", f"/v2/two/blobs/{digest}").status == 404


def test_post_then_put(registry: Server) -> None:
    data = b"post then put"
    post = registry.request("POST", "/v2/r/blobs/uploads/")
    assert post.status == 202
    assert post.headers["Location"].startswith("/v2/r/blobs/uploads/")
    assert post.headers["Docker-Upload-UUID"] in post.headers["Location"]
    put = registry.request("PUT", f"{post.headers['Location']}?digest={sha256(data)}", data)
    assert put.status == 201 and put.headers["Location"] == f"/v2/r/blobs/{sha256(data)}"
    assert registry.request("GET", put.headers["Location"]).body == data


def test_chunked_upload_with_status_and_out_of_order_chunk(registry: Server) -> None:
    data = os.urandom(10_000)
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    first = registry.request(
        "PATCH",
        location,
        data[:4000],
        {"Content-Range": "0-3999", "Content-Type": "application/octet-stream"},
    )
    assert first.status == 202 and first.headers["Range"] == "0-3999"
    skipped = registry.request("PATCH", location, data[5000:6000], {"Content-Range": "5000-5999"})
    assert skipped.status == 416 and skipped.headers["Range"] == "0-3999"
    status = registry.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-3999"
    second = registry.request("PATCH", location, data[4000:8000], {"Content-Range": "4000-7999"})
    assert second.status == 202 and second.headers["Range"] == "0-7999"
    last = registry.request(
        "PUT", f"{location}?digest={sha256(data)}", data[8000:], {"Content-Range": "8000-9999"}
    )
    assert last.status == 201
    assert registry.request("GET", f"/v2/r/blobs/{sha256(data)}").body == data


def test_streamed_patch_without_content_range(registry: Server) -> None:
    data = os.urandom(5000)
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert registry.request("PATCH", location, data).headers["Range"] == "0-4999"
    assert registry.request("PUT", f"{location}?digest={sha256(data)}").status == 201


def test_cancel_upload(registry: Server) -> None:
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    registry.request("PATCH", location, b"abc")
    assert registry.request("DELETE", location).status == 204
    gone = registry.request("GET", location)
    assert gone.status == 404 and gone.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]
    assert not list((registry.root / "repositories/r/_uploads").iterdir())


def test_range_requests(registry: Server) -> None:
    data = bytes(range(256)) * 4
    digest = registry.push_blob("r", data)
    part = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    beyond = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"Range": "bytes=5000-6000"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    tail = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"Range": "bytes=-24"})
    assert tail.status == 206 and tail.body == data[-24:]
    rest = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"Range": "bytes=1000-9999"})
    assert rest.status == 206 and rest.body == data[1000:]
    assert rest.headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"


def test_blob_etag_is_its_digest(registry: Server) -> None:
    data = b"an immutable blob"
    digest = registry.push_blob("r", data)
    whole = registry.request("GET", f"/v2/r/blobs/{digest}")
    assert whole.status == 200 and whole.body == data and whole.headers["ETag"] == f'"{digest}"'
    assert whole.headers["Content-Length"] == str(len(data))
    for tags in (f'"{digest}"', f'"sha256:{"0" * 64}", W/"{digest}"', "*"):
        again = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"If-None-Match": tags})
        assert again.status == 304 and again.body == b""
    other = registry.request("GET", f"/v2/r/blobs/{digest}", headers={"If-None-Match": '"other"'})
    assert other.status == 200 and other.body == data


def test_sha512_upload(registry: Server) -> None:
    data = b"sha512 content"
    digest = f"sha512:{hashlib.sha512(data).hexdigest()}"
    post = registry.request("POST", "/v2/r/blobs/uploads/?digest-algorithm=sha512")
    registry.request("PATCH", post.headers["Location"], data)
    assert registry.request("PUT", f"{post.headers['Location']}?digest={digest}").status == 201
    got = registry.request("GET", f"/v2/r/blobs/{digest}")
    assert got.body == data and got.headers["Docker-Content-Digest"] == digest


def test_sha512_digest_on_a_sha256_session_rehashes(registry: Server) -> None:
    data = b"declared late"
    digest = f"sha512:{hashlib.sha512(data).hexdigest()}"
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert registry.request("PUT", f"{location}?digest={digest}", data).status == 201


def test_mount_from_another_repository(registry: Server) -> None:
    digest = registry.push_blob("src", b"mount me")
    mounted = registry.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}&from=src")
    assert mounted.status == 201 and mounted.headers["Location"] == f"/v2/dst/blobs/{digest}"
    assert registry.request("GET", f"/v2/dst/blobs/{digest}").body == b"mount me"


def test_mount_of_a_blob_the_source_lacks_starts_an_upload(registry: Server) -> None:
    digest = registry.push_blob("elsewhere", b"not in src")
    reply = registry.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}&from=src")
    assert reply.status == 202 and "/blobs/uploads/" in reply.headers["Location"]


def test_mount_without_from(registry: Server) -> None:
    digest = registry.push_blob("src", b"anonymous mount")
    assert registry.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}").status == 201
    missing = sha256(b"never pushed")
    assert registry.request("POST", f"/v2/dst/blobs/uploads/?mount={missing}").status == 202


def test_digest_mismatch_stores_nothing(registry: Server) -> None:
    wrong = sha256(b"something else")
    reply = registry.request("POST", f"/v2/r/blobs/uploads/?digest={wrong}", b"actual bytes")
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]
    assert blob_files(registry) == []
    assert registry.request("HEAD", f"/v2/r/blobs/{wrong}").status == 404
    assert registry.request("HEAD", f"/v2/r/blobs/{sha256(b'actual bytes')}").status == 404
    assert not list((registry.root / "repositories/r/_uploads").iterdir())


def test_digest_mismatch_on_closing_put_ends_the_upload(registry: Server) -> None:
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    reply = registry.request("PUT", f"{location}?digest={sha256(b'other')}", b"data")
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]
    assert blob_files(registry) == []
    assert registry.request("GET", location).status == 404


@pytest.mark.parametrize("digest", ["sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "nodigest"])
def test_invalid_digests(registry: Server, digest: str) -> None:
    reply = registry.request("GET", f"/v2/r/blobs/{digest}")
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]
    post = registry.request("POST", f"/v2/r/blobs/uploads/?digest={digest}", b"x")
    assert post.status == 400 and post.error_codes() == ["DIGEST_INVALID"]


def test_content_range_disagreeing_with_content_length(registry: Server) -> None:
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    reply = registry.request("PATCH", location, b"12345", {"Content-Range": "0-9"})
    assert reply.status == 400 and reply.error_codes() == ["SIZE_INVALID"]
    assert registry.request("GET", location).headers["Range"] == "0-0"


def _send_truncated(server: Server, request_line: str, declared: int, sent: bytes) -> None:
    """Send a request declaring ``declared`` body bytes, send fewer, and vanish (a killed client)."""
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(
            f"{request_line} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + sent
        )
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)  # wait for the server to notice the short body


def test_wrong_content_length_on_monolithic_upload_stores_nothing(registry: Server) -> None:
    data = os.urandom(100_000)
    _send_truncated(registry, f"POST /v2/r/blobs/uploads/?digest={sha256(data)}", len(data), data[:50_000])
    assert registry.request("HEAD", f"/v2/r/blobs/{sha256(data)}").status == 404
    assert blob_files(registry) == []
    assert not list((registry.root / "repositories/r/_uploads").iterdir())


def test_client_killed_mid_chunk_leaves_no_blob_and_a_resumable_upload(registry: Server) -> None:
    data = os.urandom(200_000)
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    _send_truncated(registry, f"PATCH {location}", len(data), data[:70_000])
    assert blob_files(registry) == []
    status = registry.request("GET", location)
    received = int(status.headers["Range"].split("-")[1]) + 1
    assert received <= 70_000
    rest = registry.request(
        "PATCH", location, data[received:], {"Content-Range": f"{received}-{len(data) - 1}"}
    )
    assert rest.status == 202
    assert registry.request("PUT", f"{location}?digest={sha256(data)}").status == 201
    assert registry.request("GET", f"/v2/r/blobs/{sha256(data)}").body == data


def test_unknown_upload(registry: Server) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        reply = registry.request(method, "/v2/r/blobs/uploads/0123456789abcdef0123456789abcdef")
        assert reply.status == 404 and reply.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]
    assert registry.request("GET", "/v2/r/blobs/uploads/../../etc").status in (400, 404)


def test_a_chunk_racing_another_chunk_of_the_same_upload_is_refused(registry: Server) -> None:
    data = os.urandom(100_000)
    location = registry.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    with socket.create_connection((registry.host, registry.port)) as slow:
        # The first chunk is still arriving (half its body sent) when the second one comes.
        slow.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
            "Content-Range: 0-99999\r\n\r\n".encode()
            + data[:50_000]
        )
        for _ in range(500):  # until the server has started writing the first chunk
            if registry.request("GET", location).headers["Range"] != "0-0":
                break
        # A streamed chunk (no Content-Range) would otherwise be appended into the middle of the first.
        racing = registry.request("PATCH", location, b"xyz")
        assert racing.status == 416
        slow.sendall(data[50_000:])
        assert b" 202 " in slow.recv(65536).split(b"\r\n", 1)[0] + b" "
    assert registry.request("PUT", f"{location}?digest={sha256(data)}").status == 201
    assert registry.request("GET", f"/v2/r/blobs/{sha256(data)}").body == data
