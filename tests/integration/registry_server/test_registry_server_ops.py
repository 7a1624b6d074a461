"""Operations endpoints: /healthz and Prometheus text metrics at /metrics."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import wait_for
from tests.integration.registry_server.harness import Server
from tests.integration.registry_server.peers import free_port, serve_command

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


def test_a_malformed_request_is_refused_without_an_error(tmp_path: Path) -> None:
    """``berth registry serve`` answers 400 to requests it cannot parse, and its access log (which
    counts the metrics) takes them: one refused before routing has no application to ask, and
    asking it used to raise ("Unhandled exception") for each."""
    addr = f"127.0.0.1:{free_port()}"
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen(serve_command(addr, tmp_path / "root"), stdout=subprocess.DEVNULL, stderr=log)
    try:
        host, port = addr.split(":")
        wait_for(lambda: _answers(host, int(port)), "the registry")
        for request in (b"G@T / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(request)
                assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] == b"400"
        assert _answers(host, int(port))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert "Unhandled exception" not in (tmp_path / "log").read_text()


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            return sock.recv(4096).split()[1] == b"200"
    except OSError:
        return False
