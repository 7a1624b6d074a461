"""``berth system service``: ping, version, info, version negotiation, and Docker's errors for bad
requests, after each of which the service still serves."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.integration.dockerapi.client import DockerAPI
from tests.integration.dockerapi.conftest import Service
from tests.integration.engine_cli.conftest import Berth


def test_ping_get_and_head(api: DockerAPI) -> None:
    got = api.get("/_ping")
    assert (got.status, got.body) == (200, b"OK")
    assert got.headers["api-version"] == "1.44"
    assert got.headers["ostype"] == "linux"
    head = api.request("HEAD", "/v1.41/_ping")
    assert (head.status, head.body, head.headers["api-version"]) == (200, b"", "1.44")


def test_version_and_info(api: DockerAPI) -> None:
    version = api.get("/v1.41/version").json()
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Os"]) == ("1.44", "1.24", "linux")
    assert version["Components"][0]["Name"] == "Engine"
    info = api.get("/info").json()
    assert info["Images"] == 1
    assert info["Containers"] == 0
    assert info["OSType"] == "linux"
    assert info["Swarm"]["LocalNodeState"] == "inactive"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v1.45/version", 400, "client version 1.45 is too new. Maximum supported API version is 1.44"),
        ("/v1.12/version", 400, "client version 1.12 is too old"),
        ("/v1..2/version", 400, "invalid API version"),
        ("/v1.44/no/such/endpoint", 404, "page not found"),
        ("/containers/nothere/json", 404, "no such container: nothere"),
    ],
)
def test_bad_paths_get_dockers_errors(api: DockerAPI, path: str, status: int, message: str) -> None:
    answer = api.get(path)
    assert answer.status == status
    # exactly: Docker's Go client decodes an error only under this type (no charset parameter)
    assert answer.headers["content-type"] == "application/json"
    assert message in answer.message
    assert api.get("/_ping").status == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "invalid JSON in the request body"),
        (b"[1, 2]", "invalid request body: want a JSON object"),
        (b'{"Image": 42}', "invalid Image: want a string"),
        (b'{"Image": "localhost/busybox", "Cmd": [1]}', "invalid Cmd: want a list of strings"),
        (b'{"Image": "localhost/busybox", "HostConfig": {"Privileged": "yes"}}', "HostConfig.Privileged"),
        (
            b'{"Image": "localhost/busybox", "HostConfig": {"Memory": true}}',
            "HostConfig.Memory: want an integer",
        ),
        (b"{}", "Image is required"),
    ],
)
def test_bad_create_bodies_are_400(api: DockerAPI, raw: bytes, message: str) -> None:
    answer = api.request(
        "POST", "/v1.44/containers/create", raw=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert message in answer.message
    assert api.get("/v1.44/containers/json?all=1").json() == []


def test_a_huge_body_is_refused_and_the_service_serves_on(api: DockerAPI) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(api.path)
    with sock:
        sock.sendall(
            b"POST /v1.44/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )
        chunk = b"x" * 65536
        answer = b""
        try:
            for _ in range(1024):  # the service answers after its limit; it need not read a gigabyte
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while part := sock.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"message"' in answer
    assert api.get("/_ping").status == 200


def test_an_unknown_image_is_404_no_such_image(api: DockerAPI) -> None:
    answer = api.post("/v1.44/containers/create", {"Image": "localhost/nothere:1"})
    assert answer.status == 404
    assert answer.message == "No such image: localhost/nothere:1"


def test_idle_time_ends_the_service(berth: Berth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    svc = Service(berth, tmp_path / "idle.sock", "--time", "1")
    try:
        assert DockerAPI(str(svc.socket_path)).get("/_ping").status == 200
        assert svc.proc.wait(timeout=60) == 0
        assert not svc.socket_path.exists()
    finally:
        svc.stop()


def test_a_second_service_on_the_same_socket_is_refused(berth: Berth, service: Service) -> None:
    out = berth("system", "service", f"unix://{service.socket_path}", check=False)
    assert out.returncode == 125
    assert "a service already listens on" in out.stderr
    assert DockerAPI(str(service.socket_path)).get("/_ping").status == 200


@pytest.mark.parametrize("uri", ["tcp:0.0.0.0:2375", "tcp:127.0.0.1:notaport", "http://x", "unix:relative"])
def test_bad_service_addresses(berth: Berth, uri: str) -> None:
    out = berth("system", "service", uri, check=False, stdin=subprocess.DEVNULL)
    assert out.returncode == 125
    assert "invalid service address" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
