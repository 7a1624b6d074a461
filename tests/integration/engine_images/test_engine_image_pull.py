"""``berth run`` pulls a missing image from a registry (Berth's own, on 127.0.0.1) and runs it."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.spec.image_config import ContainerConfig
from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.image_builder import store_busybox_image

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def registry(berth: Berth, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addr = f"127.0.0.1:{port}"
    server = berth.popen(
        "registry",
        "serve",
        "--addr",
        addr,
        "--root",
        str(tmp_path / "registry"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "registry did not start"
                time.sleep(0.1)
        yield addr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_run_pulls_a_missing_image(berth: Berth, registry: str, tmp_path: Path) -> None:
    pusher = Berth(tmp_path / "pusher", tmp_path / "pusher-run", berth.rootfs)
    store_busybox_image(pusher.root, berth.rootfs, "busybox:1", ContainerConfig(cmd=("echo", "from-image")))
    pusher("push", "--tls-verify=false", "busybox:1", f"{registry}/berth/busybox:1")
    image = f"{registry}/berth/busybox:1"
    never = berth("run", "--rm", "--pull", "never", "--network", "none", image, check=False)
    assert never.returncode == 125 and "pull it first" in never.stderr
    out = berth("run", "--rm", "--tls-verify=false", "--network", "none", image)
    assert out.stdout == "from-image\n"
    again = berth("run", "--rm", "--pull", "never", "--network", "none", image, "echo", "hello")
    assert again.stdout == "hello\n"
