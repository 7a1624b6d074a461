"""Repository names outside the spec's grammar are refused before they reach the filesystem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.registry_server.harness import Server

pytestmark = pytest.mark.timeout(60)

BAD_NAMES = [
    "UPPER/case",
    "a//b",
    "-lead",
    "trail-",
    "a/_layers",
    "dot/./x",
    "a..b",
    "x" * 256,
]
ESCAPES = ["..", "../../etc", "a/../../../tmp", "%2e%2e/%2e%2e/etc", "a%2f..%2f..%2fescape"]


def tree(root: Path) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files} if root.exists() else set()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused(registry: Server, name: str) -> None:
    for method, path in (
        ("GET", f"/v2/{name}/tags/list"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("PUT", f"/v2/{name}/manifests/latest"),
    ):
        reply = registry.request(method, path, b"{}" if method == "PUT" else None)
        assert reply.status == 400, (method, path)
        assert reply.error_codes() == ["NAME_INVALID"]
    assert tree(registry.root) == set()


@pytest.mark.parametrize("name", ESCAPES)
def test_names_trying_to_escape_the_root(registry: Server, tmp_path: Path, name: str) -> None:
    outside_before = tree(tmp_path)
    reply = registry.request("POST", f"/v2/{name}/blobs/uploads/?digest=sha256:{'0' * 64}", b"")
    assert reply.status in (400, 404)
    assert tree(registry.root) == set()
    assert tree(tmp_path) == outside_before
    mount = registry.request("POST", f"/v2/ok/blobs/uploads/?mount=sha256:{'0' * 64}&from={name}")
    assert mount.status in (400, 404)
