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


@dataclass
class BridgeNet:
    """A CNI bridge network of the test's own for ``cni_conf_dir`` (its bridge, a /24 and host-local's
    reservations under the test's directory), with port mappings."""

    bridge: str
    subnet: str  # the first three octets
    ipam: Path

    @classmethod
    def make(cls, tmp_path: Path) -> BridgeNet:
        tag = os.urandom(3).hex()
        return cls(f"bt{tag}", f"10.234.{int(tag[:2], 16)}", tmp_path / "ipam")

    def plugins(self) -> list[dict[str, Any]]:
        return bridge_plugins(self.bridge, f"{self.subnet}.0/24", self.ipam)

    def write(self, net_d: Path, name: str, plugins: list[dict[str, Any]]) -> Path:
        """``net_d/10-NAME.conflist`` holding ``plugins``."""
        net_d.mkdir(exist_ok=True)
        path = net_d / f"10-{name}.conflist"
        path.write_text(json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": plugins}))
        return path

    def allocated(self) -> list[str]:
        """host-local's reservations: a file per address in the network's directory (besides its
        lock and last reserved address)."""
        return sorted(
            p.name
            for p in self.ipam.glob("*/*")
            if p.name != "lock" and not p.name.startswith("last_reserved_ip")
        )

    def remove_bridge(self) -> None:
        """The plugin's bridge (Berth leaves it, as containerd does)."""
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)


def bridge_conflist(path: Path, name: str, subnet: str, ipam_dir: Path) -> str:
    """Write at ``path`` the CNI network ``name``: a bridge of its own (its name is returned: the
    plugin's, which the test deletes), host-local addresses from ``subnet``, portmap."""
    bridge = f"btest{os.urandom(3).hex()}"
    plugins = bridge_plugins(bridge, subnet, ipam_dir)
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": plugins}))
    return bridge


def bridge_plugins(bridge: str, subnet: str, ipam_dir: Path) -> list[dict[str, Any]]:
    """A CNI plugin list: ``bridge`` as the pods' gateway, host-local addresses from ``subnet``
    (reservations under ``ipam_dir``), portmap."""
    return [
        {"type": "bridge", "bridge": bridge, "isGateway": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam_dir)}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]  # fmt: skip


def wait_state(runtime: Any, cid: str, state: str, limit: float = 30.0) -> Any:
    from berth.cri.proto import api_pb2 as pb

    deadline = time.monotonic() + limit
    while True:
        status = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
        if pb.ContainerState.Name(status.state) == state or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's C core logs fork warnings otherwise
