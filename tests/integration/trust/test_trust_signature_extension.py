"""Simple signatures written to and read from a registry's signature extension
(``X-Registry-Supports-Signatures: 1``), against a small server that offers it as the OpenShift
registry does: ``PUT`` one signature object (201), ``GET`` the list."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from aiohttp import web

from berth.distribution.client.registry import RetryPolicy
from berth.distribution.transports import TransportContext
from berth.spec.digest import Digest
from berth.trust.lookaside import read_extension, write_extension
from tests.integration.registry_client.threaded_server import ThreadedServer

pytestmark = [pytest.mark.timeout(60)]


class ExtensionRegistry(ThreadedServer):
    """``/v2/`` announcing the extension, and the extension's endpoints over a dict."""

    def __init__(self) -> None:
        self.stored: dict[str, list[dict[str, object]]] = {}
        super().__init__()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_get("/extensions/v2/{name:.+}/signatures/{digest}", self.list)
        app.router.add_put("/extensions/v2/{name:.+}/signatures/{digest}", self.put)
        return app

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({}, headers={"X-Registry-Supports-Signatures": "1"})

    async def list(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['name']}@{request.match_info['digest']}"
        return web.json_response({"signatures": self.stored.get(key, [])})

    async def put(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        digest = request.match_info["digest"]
        if (
            body.get("schemaVersion") != 2
            or body.get("type") != "atomic"
            or not body["name"].startswith(digest)
        ):
            return web.Response(status=400)
        self.stored.setdefault(f"{request.match_info['name']}@{digest}", []).append(body)
        return web.Response(status=201)


def test_signatures_are_written_once_each_and_read_back(tmp_path: Path) -> None:
    digest = Digest.of(b"manifest")
    ctx = TransportContext(tls_verify=False, authfile=tmp_path / "auth.json", retry=RetryPolicy(base=0.01))

    async def run(port: int) -> list[bytes]:
        async with ctx.client() as client:
            repo = client.push_repository(f"127.0.0.1:{port}/ext/app")
            await repo.registry.ping()
            assert repo.registry.supports_signatures
            await write_extension(repo, digest, [b"first", b"second", b"first"])
            await write_extension(repo, digest, [b"second"])  # already there: not stored again
            return await read_extension(repo, digest)

    with ExtensionRegistry() as server:
        assert asyncio.run(run(server.port)) == [b"first", b"second"]
        [entries] = server.stored.values()
    assert [base64.b64decode(str(e["content"])) for e in entries] == [b"first", b"second"]
    assert len({e["name"] for e in entries}) == 2
