"""A download cut off mid-blob resumes with Range and still verifies."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from berth.distribution.transports import TransportContext, copy
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import make_layout
from tests.integration.registry_client.threaded_server import ThreadedServer

pytestmark = pytest.mark.timeout(120)


class CuttingProxy(ThreadedServer):
    """Forwards to the registry, but the first full GET of each blob is cut after half its body."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cut: list[str] = []
        self.ranges: list[str] = []
        super().__init__()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        body = await request.read()
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
            request.method, f"http://{self.upstream}{request.path_qs}", headers=headers, data=body,
            allow_redirects=False,
        ) as up:  # fmt: skip
            data = await up.read()
            is_blob = request.method == "GET" and "/blobs/sha256:" in request.path
            if "Range" in request.headers:
                self.ranges.append(request.headers["Range"])
            out_headers = {
                k: v
                for k, v in up.headers.items()
                if k.lower() not in ("transfer-encoding", "content-length")
            }
            if is_blob and up.status == 200 and request.path not in self.cut and len(data) > 1000:
                self.cut.append(request.path)
                resp = web.StreamResponse(status=200, headers=out_headers)
                resp.content_length = len(data)
                await resp.prepare(request)
                await resp.write(data[: len(data) // 2])
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-body
                return resp
            return web.Response(status=up.status, headers=out_headers, body=data)


@pytest.fixture
def proxy(registry: DockerRegistry) -> Iterator[CuttingProxy]:
    with CuttingProxy(registry.host) as p:
        yield p


def test_dropped_connection_resumes_with_range(
    tmp_path: Path, registry: DockerRegistry, proxy: CuttingProxy, ctx: TransportContext
) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"big": os.urandom(300_000)}])
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/resume/app:v1", ctx)
    pulled = copy(f"docker://127.0.0.1:{proxy.port}/resume/app:v1", f"oci:{tmp_path / 'dst'}", ctx)
    assert str(pulled.manifest.digest) == digest
    manifest = json.loads((tmp_path / "dst/blobs/sha256" / digest.split(":")[1]).read_text())
    layer = manifest["layers"][0]
    assert proxy.cut == [f"/v2/resume/app/blobs/{layer['digest']}"]  # the layer was cut once
    assert proxy.ranges and all(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in proxy.ranges)
    assert (tmp_path / "dst/blobs/sha256" / layer["digest"].split(":")[1]).stat().st_size == layer["size"]
