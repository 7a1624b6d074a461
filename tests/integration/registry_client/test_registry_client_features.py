"""Mirrors from registries.conf, referrers with the tag-schema fallback, retries on 5xx, token refresh."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from berth.distribution import registries_conf
from berth.distribution.client import ManifestHead, RegistryClient, RegistryError, RetryPolicy
from berth.distribution.transports import TransportContext, copy
from berth.spec.digest import Digest
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import make_layout
from tests.integration.registry_client.threaded_server import ThreadedServer

pytestmark = pytest.mark.timeout(120)


def test_pull_through_mirror_from_registries_conf(tmp_path: Path, registry: DockerRegistry) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"m": b"mirrored"}])
    ctx = TransportContext(tls_verify=False, authfile=tmp_path / "auth.json")
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/mirror/team/app:v1", ctx)
    conf = registries_conf.parse(
        '[[registry]]\nprefix = "upstream.invalid"\nlocation = "upstream.invalid"\n'
        f'[[registry.mirror]]\nlocation = "{registry.host}/mirror"\ninsecure = true\n'
    )
    # upstream.invalid does not resolve: only the mirror can serve this pull; tls_verify is left to the conf
    mirrored = TransportContext(authfile=tmp_path / "auth.json", registries_conf=conf)
    pulled = copy("docker://upstream.invalid/team/app:v1", f"oci:{tmp_path / 'dst'}", mirrored)
    assert str(pulled.manifest.digest) == digest


def test_referrers_fall_back_to_the_tag_schema(tmp_path: Path, registry: DockerRegistry) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"r": b"subject"}])
    ctx = TransportContext(tls_verify=False, authfile=tmp_path / "auth.json")
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/refs/app:v1", ctx)
    subject = Digest.parse(digest)
    subject_size = (tmp_path / "src/blobs/sha256" / subject.encoded).stat().st_size
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": str(Digest.of(b"{}")), "size": 2}

    def artifact(artifact_type: str) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type, "config": empty, "layers": [empty],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                        "size": subject_size},
        }).encode()  # fmt: skip

    artifacts = {t: artifact(t) for t in ("application/spdx+json", "application/vnd.dev.sig")}
    entries = [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": str(Digest.of(data)),
         "size": len(data), "artifactType": t}
        for t, data in artifacts.items()
    ]  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()  # fmt: skip

    async def run() -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
        async with RegistryClient(tls_verify=False, authfile=tmp_path / "auth.json") as client:
            repo = client.repository(registry.host, "refs/app", push=True)
            before = await repo.referrers(subject)

            async def one() -> AsyncIterator[bytes]:
                yield b"{}"

            await repo.upload_blob(Digest.of(b"{}"), 2, one())
            for data in artifacts.values():
                await repo.put_manifest(
                    str(Digest.of(data)), data, "application/vnd.oci.image.manifest.v1+json"
                )
            await repo.put_manifest(
                f"sha256-{subject.encoded}", index, "application/vnd.oci.image.index.v1+json"
            )
            return (
                before,
                await repo.referrers(subject),
                await repo.referrers(subject, "application/spdx+json"),
            )

    before, after, filtered = asyncio.run(run())
    assert before == []
    assert [m["digest"] for m in after] == [e["digest"] for e in entries]
    assert [m["digest"] for m in filtered] == [entries[0]["digest"]]


class FakeRegistry(ThreadedServer):
    """A tiny in-thread registry: Bearer challenge, a token endpoint, and scripted failures."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.manifest_gets = 0
        self.always_fail = False
        self.body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                "manifests": []}).encode()  # fmt: skip
        super().__init__()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/flaky/app/manifests/{ref}", self.manifest)
        return app

    def _challenge(self) -> web.Response:
        realm = f"http://127.0.0.1:{self.port}/token"
        return web.Response(
            status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'}
        )

    async def ping(self, request: web.Request) -> web.Response:
        return self._challenge()

    async def token(self, request: web.Request) -> web.Response:
        self.tokens_issued += 1
        return web.json_response({"token": f"t{self.tokens_issued}", "expires_in": 300})

    async def manifest(self, request: web.Request) -> web.Response:
        self.manifest_gets += 1
        if self.manifest_gets == 1 or self.always_fail:
            return web.Response(status=503)  # a passing server failure: retried with backoff
        if request.headers.get("Authorization") == "Bearer t1":
            return self._challenge()  # the first token was revoked: the client must fetch another
        return web.Response(body=self.body, content_type="application/vnd.oci.image.index.v1+json")


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as f:
        yield f


def test_retry_on_503_and_new_token_after_401(tmp_path: Path, fake: FakeRegistry) -> None:
    async def run() -> bytes:
        async with RegistryClient(
            tls_verify=False, authfile=tmp_path / "a.json", retry=RetryPolicy(base=0.01)
        ) as c:
            return (await c.repository(f"127.0.0.1:{fake.port}", "flaky/app").get_manifest("latest")).data

    assert asyncio.run(run()) == fake.body
    assert fake.manifest_gets == 3 and fake.tokens_issued == 2


def test_retries_are_bounded(tmp_path: Path, fake: FakeRegistry) -> None:
    fake.always_fail = True

    async def run() -> None:
        policy = RetryPolicy(attempts=3, base=0.01)
        async with RegistryClient(tls_verify=False, authfile=tmp_path / "a.json", retry=policy) as c:
            await c.repository(f"127.0.0.1:{fake.port}", "flaky/app").get_manifest("latest")

    with pytest.raises(RegistryError, match=r"manifest .*flaky/app:latest failed with HTTP 503"):
        asyncio.run(run())
    assert fake.manifest_gets == 3


def test_head_manifest_and_tag_list(tmp_path: Path, registry: DockerRegistry) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"h": b"head"}])
    ctx = TransportContext(tls_verify=False, authfile=tmp_path / "auth.json")
    for tag in ("v1", "v2"):
        copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/head/app:{tag}", ctx)

    async def run() -> tuple[object, object, list[str]]:
        async with RegistryClient(tls_verify=False, authfile=tmp_path / "auth.json") as client:
            repo = client.repository(registry.host, "head/app")
            return await repo.head_manifest("v2"), await repo.head_manifest("nope"), await repo.tags()

    head, missing, tags = asyncio.run(run())
    size = (tmp_path / "src/blobs/sha256" / digest.split(":")[1]).stat().st_size
    assert head == ManifestHead("application/vnd.oci.image.manifest.v1+json", Digest.parse(digest), size)
    assert missing is None
    assert sorted(tags) == ["v1", "v2"]


class PartialUploadRegistry(ThreadedServer):
    """Accepts a chunked upload, but keeps only half of the first PATCH and answers 500 to it."""

    def __init__(self) -> None:
        self.stored = bytearray()
        self.patches: list[str] = []
        self.status_queries = 0
        self.final_digest = ""
        super().__init__()

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/v2/", self.ping)
        app.router.add_post("/v2/up/app/blobs/uploads/", self.start)
        app.router.add_patch("/upload/1", self.patch)
        app.router.add_get("/upload/1", self.status)
        app.router.add_put("/upload/1", self.finish)
        return app

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response()

    def _range(self) -> dict[str, str]:
        return {"Location": "/upload/1", "Range": f"0-{len(self.stored) - 1}"}

    async def start(self, request: web.Request) -> web.Response:
        return web.Response(status=202, headers={"Location": "/upload/1"})

    async def patch(self, request: web.Request) -> web.Response:
        body = await request.read()
        start = int(request.headers["Content-Range"].split("-")[0])
        self.patches.append(request.headers["Content-Range"])
        if start != len(self.stored):
            return web.Response(status=416, headers=self._range())
        if len(self.patches) == 1:
            self.stored += body[: len(body) // 2]
            return web.Response(status=500)  # half arrived, then the server failed
        self.stored += body
        return web.Response(status=202, headers=self._range())

    async def status(self, request: web.Request) -> web.Response:
        self.status_queries += 1
        return web.Response(status=204, headers=self._range())

    async def finish(self, request: web.Request) -> web.Response:
        self.final_digest = request.query["digest"]
        if str(Digest.of(bytes(self.stored))) != self.final_digest:
            return web.Response(status=400)
        return web.Response(status=201)


def test_chunked_upload_resumes_from_the_registry_offset(tmp_path: Path) -> None:
    import os

    from berth.distribution.client import repository

    server = PartialUploadRegistry()
    data = os.urandom(repository.MONOLITHIC_MAX + 1000)

    async def run() -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        async with RegistryClient(
            tls_verify=False, authfile=tmp_path / "a.json", retry=RetryPolicy(base=0.01)
        ) as c:
            await c.repository(f"127.0.0.1:{server.port}", "up/app", push=True).upload_blob(
                Digest.of(data), len(data), chunks()
            )

    with server:
        asyncio.run(run())
    half = len(data) // 2
    assert server.patches == [f"0-{len(data) - 1}", f"0-{len(data) - 1}", f"{half}-{len(data) - 1}"]
    assert server.status_queries == 1 and bytes(server.stored) == data
