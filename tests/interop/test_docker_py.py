"""docker-py (PyPI ``docker``, the Docker SDK for Python) driving ``berth system service``: the
calls docker-compose and scripts make, with the shapes the SDK parses."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dockerapi.conftest import IMAGE, Service, berth, busybox_root
from tests.integration.engine_cli.conftest import Berth

docker = pytest.importorskip("docker")

__all__ = ["berth", "busybox_root"]

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

OFFLINE = {"network_mode": "none"}


@pytest.fixture
def client(berth: Berth, tmp_path: Path) -> Iterator[object]:
    service = Service(berth, tmp_path / "api.sock", "--time", "0")
    sdk = docker.DockerClient(base_url=f"unix://{service.socket_path}", version="auto", timeout=120)
    try:
        yield sdk
    finally:
        sdk.close()
        service.stop()


def test_ping_version_info(client: object) -> None:
    assert client.ping() is True  # type: ignore[attr-defined]
    assert client.version()["ApiVersion"] == "1.44"  # type: ignore[attr-defined]
    assert client.info()["Images"] == 1  # type: ignore[attr-defined]


def test_run_logs_exec_and_lists(client: object, berth: Berth) -> None:
    c: Any = client
    assert c.containers.run(IMAGE, ["echo", "hi"], remove=True, **OFFLINE) == b"hi\n"
    box = c.containers.run(IMAGE, ["sh", "-c", "echo started; sleep 300"], detach=True, name="box",
                           labels={"com.docker.compose.service": "web"}, **OFFLINE)  # fmt: skip
    box.reload()
    assert box.status == "running"
    assert box.labels == {"com.docker.compose.service": "web"}
    assert [x.name for x in c.containers.list(filters={"label": "com.docker.compose.service=web"})] == ["box"]
    assert "box" in berth("ps").stdout
    deadline = time.monotonic() + 30
    while b"started" not in box.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.logs() == b"started\n"
    code, output = box.exec_run(["sh", "-c", "echo in exec; exit 3"])
    assert (code, output) == (3, b"in exec\n")
    top = box.top()
    assert any("sleep" in " ".join(p) for p in top["Processes"])
    stats = box.stats(stream=False)
    assert stats["memory_stats"]["usage"] > 0
    box.stop(timeout=0)
    assert box.wait()["StatusCode"] == 137
    box.remove()
    assert c.containers.list(all=True) == []


def test_archive_both_ways(client: object) -> None:
    c: Any = client
    box = c.containers.run(IMAGE, ["sleep", "300"], detach=True, **OFFLINE)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    assert box.put_archive("/tmp", buf.getvalue()) is True
    chunks, stat = box.get_archive("/tmp/hello.txt")
    assert stat["name"] == "hello.txt"
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None and member.read() == b"hello\n"
    box.remove(force=True)


def test_images_networks_volumes_events(client: object) -> None:
    c: Any = client
    start = time.time()
    image = c.images.get(IMAGE)
    assert IMAGE in image.tags
    assert image.tag("localhost/sdk", "1") is True
    assert "localhost/sdk:1" in c.images.get("localhost/sdk:1").tags
    c.images.remove("localhost/sdk:1")
    with pytest.raises(docker.errors.ImageNotFound):
        c.images.get("localhost/sdk:1")
    net = c.networks.create("sdknet", labels={"a": "b"})
    assert net.name == "sdknet"
    assert "sdknet" in [n.name for n in c.networks.list()]
    vol = c.volumes.create("sdkvol")
    mounts = {"sdkvol": {"bind": "/v", "mode": "rw"}}
    box = c.containers.run(
        IMAGE, ["sh", "-c", "echo saved > /v/f"], network="sdknet", volumes=mounts, detach=True
    )
    assert box.wait()["StatusCode"] == 0
    box.remove()
    net.remove()
    vol.remove()
    with pytest.raises(docker.errors.NotFound):
        c.volumes.get("sdkvol")
    events = list(
        c.events(since=int(start) - 1, until=int(time.time()) + 1, decode=True, filters={"type": "network"})
    )
    assert [e["Action"] for e in events] == ["create", "destroy"]
    with pytest.raises(docker.errors.APIError) as err:
        c.containers.create("localhost/nothere:1")
    assert err.value.status_code == 404
