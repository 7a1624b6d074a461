"""Fixtures for the Docker API service: an engine root with the busybox image, and a running
``berth system service`` on a unix socket in the test's directory."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.busybox import make_rootfs
from tests.integration.dockerapi.client import DockerAPI
from tests.integration.engine_cli.conftest import Berth, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

IMAGE = "localhost/busybox:latest"


@pytest.fixture(scope="session")
def busybox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("dockerapi-busybox") / "rootfs")


@pytest.fixture
def berth(tmp_path: Path, busybox_root: Path) -> Iterator[Berth]:
    """The engine the service serves, with the busybox image as ``localhost/busybox``."""
    b = Berth(tmp_path / "root", tmp_path / "run", busybox_root)
    b("import", str(busybox_root), IMAGE)
    try:
        yield b
    finally:
        b.cleanup()
    _assert_network_gone(b)


def _assert_network_gone(b: Berth) -> None:
    """No iptables rule or device of this test's own network is left. (Only its own: other runs
    on the host make and remove theirs meanwhile.)"""
    name = b.config_file.read_text().split('default_network = "')[1].split('"')[0]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert f"berth network {name}" not in rules, f"iptables rules of network {name} left"
    assert name not in os.listdir("/sys/class/net"), f"bridge {name} left"


class Service:
    """A running ``berth system service``."""

    def __init__(self, berth: Berth, socket_path: Path, *extra: str) -> None:
        self.socket_path = socket_path
        self.proc = berth.popen("system", "service", f"unix://{socket_path}", *extra, stderr=subprocess.PIPE)
        wait_for(lambda: self._answers() or self.proc.poll() is not None, "the service's socket")
        if self.proc.poll() is not None:
            raise AssertionError(f"the service exited: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def _answers(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.socket_path))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def service(berth: Berth, tmp_path: Path) -> Iterator[Service]:
    svc = Service(berth, tmp_path / "api.sock", "--time", "0")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def api(service: Service) -> DockerAPI:
    return DockerAPI(str(service.socket_path))
