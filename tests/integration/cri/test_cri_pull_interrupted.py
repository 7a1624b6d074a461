"""A pull interrupted, then retried, succeeds, and leaves nothing half-written: the registry (Berth's,
on 127.0.0.1, behind a proxy of the test's) cut in the middle of the layer, or the client cancelling
the call while the layer stalls. After the retry no ingest stays, and the image is whole."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, serving, wait_for
from tests.integration.engine_cli.conftest import Berth

#: Bytes a connection carries from the registry before the proxy cuts it: more than a manifest or
#: a config, less than the busybox layer.
CUT_AFTER = 64 << 10
NAME = "registry.k8s.io/e2e/cut:1"


class CuttingProxy:
    """A TCP proxy to ``upstream``. While ``armed``, a connection that carried ``CUT_AFTER`` bytes
    from the registry is cut (with ``stall`` set, it first stops relaying, ``stalled`` set, until
    ``release`` is), and from then on the registry is gone: connections close at once (else the
    client's retries would resume the layer where it was cut and finish it)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.armed = True
        self.stall = False
        self.stalled, self.release = threading.Event(), threading.Event()
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.armed and self.cuts:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self._open += [client, server]
            threading.Thread(target=self._relay, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client, True), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, from_registry: bool) -> None:
        carried = 0
        with contextlib.suppress(OSError):
            while data := source.recv(16384):
                carried += len(data)
                if from_registry and self.armed and carried > CUT_AFTER:
                    if self.stall:
                        self.stalled.set()
                        self.release.wait(60)
                    self.cuts += 1
                    break
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.release.set()
        self.listener.close()
        for conn in self._open:
            conn.close()


@contextlib.contextmanager
def _pulling_through_a_proxy(
    imaged: Berth, registry: str, tmp_path: Path
) -> Iterator[tuple[Cri, CuttingProxy]]:
    """The busybox image pushed to ``registry`` as ``NAME``'s repository and gone from the store
    (so its layer must come over the wire), a proxy in front of the registry, and a server whose
    registries.conf sends ``registry.k8s.io`` there."""
    imaged("push", "--tls-verify=false", IMAGE, f"docker://{registry}/e2e/cut:1")
    imaged("rmi", IMAGE)
    proxy = CuttingProxy(registry)
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nprefix = "registry.k8s.io"\nlocation = "{proxy.address}"\ninsecure = true\n'
    )
    try:
        with serving(imaged, f'registries_conf = "{conf}"\n') as cri:
            yield cri, proxy
    finally:
        proxy.close()


def _ingests(root: Path) -> list[Path]:
    return [p for p in root.rglob("ingest/*")]


def _retry_and_check(cri: Cri, proxy: CuttingProxy) -> None:
    """The pull again, the proxy disarmed: it succeeds, no ingest stays and the image is whole."""
    proxy.armed = False
    request = pb.PullImageRequest(image=pb.ImageSpec(image=NAME))
    ref = cri.images.PullImage(request).image_ref
    assert cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=NAME))).image.id == ref
    assert _ingests(cri.berth.root) == []
    assert cri.berth("run", "--rm", "--network", "none", NAME, "true", check=False).returncode == 0
    assert cri.berth("images", "-q").stdout.split() == [ref.removeprefix("sha256:")[:12]]


def test_a_pull_cut_mid_layer_then_retried(imaged: Berth, registry: str, tmp_path: Path) -> None:
    with _pulling_through_a_proxy(imaged, registry, tmp_path) as (cri, proxy):
        request = pb.PullImageRequest(image=pb.ImageSpec(image=NAME))
        with pytest.raises(grpc.RpcError) as err:
            cri.images.PullImage(request)
        assert proxy.cuts > 0, err.value
        assert not cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=NAME))).HasField(
            "image"
        )
        assert cri.images.ListImages(pb.ListImagesRequest()).images == []
        _retry_and_check(cri, proxy)


def test_a_pull_the_client_cancels_then_retried(imaged: Berth, registry: str, tmp_path: Path) -> None:
    with _pulling_through_a_proxy(imaged, registry, tmp_path) as (cri, proxy):
        proxy.stall = True
        call = cri.images.PullImage.future(pb.PullImageRequest(image=pb.ImageSpec(image=NAME)))
        wait_for(proxy.stalled.is_set, "the layer to stall")
        assert call.cancel()
        # The server's pull, left on its own, fails once the proxy cuts the layer.
        proxy.release.set()
        log = cri.socket.parent / "cri.log"
        wait_for(lambda: "rpc=PullImage code=" in log.read_text(), "the abandoned pull to end")
        assert cri.images.ListImages(pb.ListImagesRequest()).images == []
        _retry_and_check(cri, proxy)
