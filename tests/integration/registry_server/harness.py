"""A Berth registry running in a background thread on 127.0.0.1, and a tiny HTTP client for tests."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from berth.distribution.server import RegistryConfig, make_app
from berth.distribution.server.metrics import METRICS_KEY, access_logger


@dataclass
class Reply:
    """An HTTP response, read whole."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


@dataclass
class Server:
    """A running registry: where it listens and where it stores."""

    host: str
    port: int
    root: Path

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        return self.push_blob_as(repo, data, {}, algorithm)

    def push_blob_as(self, repo: str, data: bytes, headers: dict[str, str], algorithm: str = "sha256") -> str:
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        reply = self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data, headers)
        assert reply.status == 201, reply.body
        return digest

    def push_manifest(
        self, repo: str, ref: str, manifest: dict[str, Any] | bytes, media_type: str | None = None
    ) -> Reply:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        mt = (
            media_type
            or (manifest.get("mediaType") if isinstance(manifest, dict) else None)
            or "application/vnd.oci.image.manifest.v1+json"
        )
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": mt})


def descriptor(data: bytes, media_type: str, digest: str | None = None) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": digest or f"sha256:{hashlib.sha256(data).hexdigest()}",
        "size": len(data),
    }


def image_manifest(server: Server, repo: str, layers: list[bytes], **extra: Any) -> dict[str, Any]:
    """Push a config and layers; return an OCI image manifest naming them."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    server.push_blob(repo, config)
    for layer in layers:
        server.push_blob(repo, layer)
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [descriptor(layer, "application/vnd.oci.image.layer.v1.tar") for layer in layers],
        **extra,
    }


@contextmanager
def running_registry(config: RegistryConfig) -> Iterator[Server]:
    """Serve ``config`` on a free port of 127.0.0.1 in a thread; stop it on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def start() -> None:
        app = make_app(config)
        runner = web.AppRunner(app, access_log_class=access_logger(app[METRICS_KEY]))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["runner"] = runner
        box["port"] = runner.addresses[0][1]

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as err:
            box["error"] = err
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(box["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    started.wait(30)
    if "error" in box:
        raise box["error"]
    try:
        yield Server("127.0.0.1", box["port"], config.root)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
