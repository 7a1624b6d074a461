"""docker-compose 1.29 (docker-py below 7) driving ``berth system service``: a web server, a worker
and a volume-backed store on a user network, started in dependency order, reaching each other by
service name; ``ps``, ``logs``, ``exec``, ``scale``, ``restart``, and ``down -v`` leaving nothing.

docker-compose is no project dependency: ``BERTH_COMPOSE`` names its executable (docs/docker-api.md
shows how to make its virtual environment); the test skips without it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dockerapi.conftest import IMAGE, Service, berth, busybox_root
from tests.integration.engine_cli.conftest import Berth

__all__ = ["berth", "busybox_root"]

COMPOSE = os.environ.get("BERTH_COMPOSE")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not COMPOSE, reason="BERTH_COMPOSE (docker-compose 1.29's executable) is not set"),
]

PROJECT = f"""\
version: "3.7"
services:
  store:
    image: {IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    volumes: ["data:/data"]
    networks: [back]
  web:
    image: {IMAGE}
    command:
      - sh
      - -c
      - mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www
    depends_on: [store]
    networks: [back]
  worker:
    image: {IMAGE}
    command:
      - sh
      - -c
      - while true; do wget -qO - http://web/ && wget -qO - http://store/item; sleep 1; done
    depends_on: [web, store]
    networks: [back]
networks:
  back: {{}}
volumes:
  data: {{}}
"""


class Compose:
    """docker-compose for the project in ``directory`` against the service."""

    def __init__(self, directory: Path, socket_path: Path) -> None:
        self.directory = directory
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}", "COMPOSE_INTERACTIVE_NO_CLI": "1"}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert COMPOSE is not None
        argv = [COMPOSE, "--ansi", "never", "-p", "demo", *args]
        proc = subprocess.run(
            argv, cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc


@pytest.fixture
def compose(berth: Berth, tmp_path: Path) -> Iterator[Compose]:
    service = Service(berth, tmp_path / "api.sock", "--time", "0")
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    runner = Compose(tmp_path, service.socket_path)
    try:
        yield runner
    finally:
        runner("down", "-v", "-t", "0", check=False)
        service.stop()


def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_three_services_up_exec_scale_restart_down(compose: Compose, berth: Berth) -> None:
    compose("up", "-d")
    running = compose("ps", "--services", "--filter", "status=running").stdout.split()
    assert sorted(running) == ["store", "web", "worker"]
    assert "demo_web_1" in berth("ps").stdout  # the engine sees them
    compose("exec", "-T", "store", "sh", "-c", "echo saved > /data/item")
    assert compose("exec", "-T", "worker", "wget", "-qO", "-", "http://web/").stdout == "hello from web\n"
    assert compose("exec", "-T", "worker", "wget", "-qO", "-", "http://store/item").stdout == "saved\n"
    _until(lambda: "saved" in compose("logs", "--no-color", "worker").stdout, "the worker's log")
    assert "hello from web" in compose("logs", "--no-color", "worker").stdout
    compose("up", "-d", "--scale", "worker=2")
    assert len(compose("ps", "-q", "worker").stdout.split()) == 2
    compose("restart", "-t", "0", "web")
    fetch = ("exec", "-T", "worker", "wget", "-qO", "-", "http://web/")
    _until(lambda: compose(*fetch, check=False).stdout == "hello from web\n", "web after its restart")
    compose("down", "-v", "-t", "0")
    assert berth("ps", "-a", "-q").stdout == ""
    assert "demo_back" not in berth("network", "ls").stdout
    assert "demo_data" not in berth("volume", "ls").stdout
