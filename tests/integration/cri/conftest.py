"""Fixtures for ``berth cri serve``: a server on a socket in the test's run root, a gRPC client,
and the busybox image in the store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_cli.conftest import Berth, berth, busybox_root, host_network_unchanged, wait_for
from tests.integration.engine_images.test_engine_image_pull import registry

__all__ = ["berth", "busybox_root", "host_network_unchanged", "registry", "wait_for"]

IMAGE = "localhost/busybox:1"


@dataclass
class Cri:
    """A running ``berth cri serve`` and clients of its two services."""

    berth: Berth
    socket: Path
    process: subprocess.Popen[str]
    runtime: Any
    images: Any
    channel: Any

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"


def start_server(runner: Berth, socket: Path, config: Path | None = None) -> subprocess.Popen[str]:
    """``berth cri serve`` in the background, once its socket answers."""
    args = ["cri", "serve", "--listen", f"unix://{socket}"]
    if config is not None:
        args += ["--config", str(config)]
    log = open(socket.parent / "cri.log", "a")  # noqa: SIM115 (the server's, closed with it)
    process = runner.popen(*args, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    wait_for(lambda: socket.exists() or process.poll() is not None, "the CRI socket")
    assert process.poll() is None, (socket.parent / "cri.log").read_text()
    return process


def stop_server(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    process.send_signal(sig)
    return process.wait(timeout=30)


def connect(socket: Path) -> tuple[Any, Any, Any]:
    import grpc

    from berth.cri.proto import api_pb2_grpc

    channel = grpc.insecure_channel(f"unix://{socket}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel, api_pb2_grpc.RuntimeServiceStub(channel), api_pb2_grpc.ImageServiceStub(channel)


@pytest.fixture
def imaged(berth: Berth, tmp_path: Path) -> Berth:
    """The busybox root as the image ``IMAGE``."""
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(berth.rootfs, arcname=".")
    berth("import", str(tarball), IMAGE)
    tarball.unlink()
    return berth


@contextlib.contextmanager
def serving(imaged: Berth, config_text: str = "") -> Iterator[Cri]:
    """A server in ``imaged``'s roots (with ``config_text`` as its ``--config``) and its clients;
    stopped at the end, its pods removed."""
    socket = imaged.runroot / "cri" / "cri.sock"
    socket.parent.mkdir(parents=True)
    config = None
    if config_text:
        config = socket.parent / "cri.toml"
        config.write_text(config_text)
    process = start_server(imaged, socket, config)
    channel, runtime, images = connect(socket)
    server = Cri(imaged, socket, process, runtime, images, channel)
    try:
        yield server
    finally:
        channel.close()
        if server.process.poll() is None:
            assert stop_server(server.process) == 0
        imaged("pod", "rm", "--all", "-f", check=False)
        assert not socket.exists(), "the server left its socket"


@pytest.fixture
def cri(imaged: Berth) -> Iterator[Cri]:
    with serving(imaged) as server:
        yield server


def sandbox_config(name: str = "web", **extra: Any) -> Any:
    from berth.cri.proto import api_pb2 as pb

    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default", attempt=0),
        **extra,
    )


def bridge_conflist(path: Path, name: str, subnet: str, ipam_dir: Path) -> str:
    """Write at ``path`` the CNI network ``name``: a bridge of its own (its name is returned: the
    plugin's, which the test deletes), host-local addresses from ``subnet``, portmap."""
    bridge = f"btest{os.urandom(3).hex()}"
    plugins = [
        {"type": "bridge", "bridge": bridge, "isGateway": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam_dir)}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]  # fmt: skip
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": plugins}))
    return bridge


def wait_state(runtime: Any, cid: str, state: str, limit: float = 30.0) -> Any:
    from berth.cri.proto import api_pb2 as pb

    deadline = time.monotonic() + limit
    while True:
        status = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
        if pb.ContainerState.Name(status.state) == state or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's C core logs fork warnings otherwise
