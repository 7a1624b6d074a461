"""Operations endpoints: /healthz and Prometheus text metrics at /metrics."""

from __future__ import annotations

import re

import pytest

from tests.integration.registry_server.harness import Server

pytestmark = pytest.mark.timeout(60)


def metric(text: str, name: str) -> int:
    match = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    assert match, name
    return int(match.group(1))


def test_healthz(registry: Server) -> None:
    reply = registry.request("GET", "/healthz")
    assert reply.status == 200 and reply.body == b"ok\n"


def test_metrics_count_requests_and_bytes(registry: Server) -> None:
    data = b"x" * 10_000
    digest = registry.push_blob("m", data)
    registry.request("GET", f"/v2/m/blobs/{digest}")
    registry.request("GET", "/v2/m/blobs/sha256:" + "0" * 64)
    text = registry.request("GET", "/metrics").body.decode()
    assert metric(text, 'berth_registry_requests_total{method="POST",status="201"}') == 1
    assert metric(text, 'berth_registry_requests_total{method="GET",status="200"}') == 1
    assert metric(text, 'berth_registry_requests_total{method="GET",status="404"}') == 1
    assert metric(text, "berth_registry_bytes_in_total") == 10_000
    assert metric(text, "berth_registry_bytes_out_total") >= 10_000


def test_unknown_endpoint_and_method(registry: Server) -> None:
    assert registry.request("GET", "/v2/a/b/c/unknown").status == 404
    reply = registry.request("POST", "/v2/a/tags/list")
    assert reply.status == 405 and reply.error_codes() == ["UNSUPPORTED"]
