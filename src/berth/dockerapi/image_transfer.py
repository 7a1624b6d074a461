"""Images to and from registries (engine API v1.44, Image and System): ``POST /images/create``
(pull, or import from a tarball body), ``POST /images/{name}/push`` with Docker's progress
JSON lines, and ``POST /auth``. Credentials come in ``X-Registry-Auth`` (base64url JSON)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from berth.dockerapi.app import Router, blocking, json_response, read_json, send_all, stream_from_thread
from berth.dockerapi.container_config import Fields
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.distribution.credentials import Credentials
    from berth.distribution.transports import CopyResult, TransportContext
    from berth.spec.descriptor import Descriptor
    from berth.spec.reference import Reference

Emit = Callable[[dict[str, Any]], None]


def registry_credentials(header: str) -> Credentials | None:
    """The credentials of an ``X-Registry-Auth`` header (empty or ``{}``: none)."""
    from berth.distribution.credentials import Credentials

    if not header:
        return None
    try:
        padded = header + "=" * (-len(header) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        raise ApiError(400, "invalid X-Registry-Auth header: want base64url-encoded JSON") from None
    fields = Fields(data, "X-Registry-Auth")
    if fields.text("identitytoken"):
        return Credentials(fields.text("username"), "", fields.text("identitytoken"))
    if not fields.text("username"):
        return None
    return Credentials(fields.text("username"), fields.text("password"))


def loopback_registry(domain: str) -> bool:
    """Whether a registry's ``host[:port]`` is on the loopback network (plain HTTP allowed)."""
    host = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_context(engine: Engine, ref: Reference, creds: Credentials | None) -> TransportContext:
    """Registry settings for ``ref``: registries on the loopback network may be plain HTTP, as
    dockerd's default insecure registries (127.0.0.0/8) are."""
    from berth.distribution import registries_files
    from berth.distribution.transports import TransportContext

    return TransportContext(
        tls_verify=False if loopback_registry(ref.domain) else None,
        credentials=creds,
        registries_conf=registries_files.load(),
        root=engine.config.root,
    )


class _Progress:
    """The copier's progress as Docker's JSON lines (one per blob event, the id a short digest)."""

    def __init__(self, emit: Emit, verbs: tuple[str, str, str, str]) -> None:
        self.emit = emit
        self.started, self.moving, self.done, self.skipped = verbs
        self.sent: dict[str, int] = {}

    @staticmethod
    def _id(desc: Descriptor) -> str:
        return desc.digest.encoded[:12]

    def blob_started(self, desc: Descriptor) -> None:
        self.sent[str(desc.digest)] = 0
        self.emit({"status": self.started, "progressDetail": {}, "id": self._id(desc)})

    def blob_advanced(self, desc: Descriptor, nbytes: int) -> None:
        key = str(desc.digest)
        self.sent[key] = self.sent.get(key, 0) + nbytes
        detail = {"current": self.sent[key], "total": desc.size}
        self.emit({"status": self.moving, "progressDetail": detail, "id": self._id(desc)})

    def blob_done(self, desc: Descriptor, skipped: bool) -> None:
        status = self.skipped if skipped else self.done
        self.emit({"status": status, "progressDetail": {}, "id": self._id(desc)})


def error_line(err: BaseException) -> dict[str, Any]:
    return {"errorDetail": {"message": str(err)}, "error": str(err)}


async def stream_json_lines(
    request: web.Request, work: Callable[[Engine, Emit, threading.Event], None]
) -> web.StreamResponse:
    """Answer 200 with the JSON lines ``work(engine, emit, stop)`` emits (``stop`` is set when the
    client has gone); an engine error ends the stream with Docker's error line (the status is
    sent already)."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)

    def run(engine: Engine, emit: Emit, stop: threading.Event) -> None:
        try:
            work(engine, emit, stop)
        except (BerthError, ApiError) as err:
            emit(error_line(err))

    lines = stream_from_thread(request, run)
    return await send_all(response, (json.dumps(line).encode() + b"\r\n" async for line in lines))


def _transfer(
    engine: Engine,
    ref: Reference,
    creds: Credentials | None,
    emit: Emit,
    action: str,
    verbs: tuple[str, str, str, str],
) -> CopyResult:
    """Copy ``ref`` between its registry and the store (``action`` pull or push), reporting each
    blob's progress with ``verbs``, and record the event."""
    from berth.distribution.transports import CopyOptions, copy
    from berth.engine.event_log import object_event

    remote, local = f"docker://{ref}", f"berth:{ref}"
    source, destination = (remote, local) if action == "pull" else (local, remote)
    options = CopyOptions(progress=_Progress(emit, verbs))
    result = copy(source, destination, transport_context(engine, ref, creds), options)
    object_event(engine.config, "image", action, str(ref))
    return result


def _pull(engine: Engine, ref: Reference, creds: Credentials | None, emit: Emit) -> None:
    emit({"status": f"Pulling from {ref.path}", "id": ref.tag or str(ref.digest)})
    verbs = ("Pulling fs layer", "Downloading", "Pull complete", "Already exists")
    result = _transfer(engine, ref, creds, emit, "pull", verbs)
    emit({"status": f"Digest: {result.manifest.digest}"})
    verb = "Image is up to date" if result.copied == 0 else "Downloaded newer image"
    emit({"status": f"Status: {verb} for {ref.familiar()}"})


def _import(engine: Engine, body: Path, reference: str, changes: list[str], message: str, emit: Emit) -> None:
    from berth.dockerapi.images import open_store
    from berth.engine.event_log import object_event
    from berth.image.importer import import_image

    with open_store(engine) as store:
        stored = import_image(store, body, reference or None, changes=changes, message=message)
    object_event(engine.config, "image", "tag", stored.name, stored.image_id)
    emit({"status": f"sha256:{stored.image_id}"})


def _reference(name: str, tag: str) -> Reference:
    from berth.spec.reference import Reference

    if tag.startswith("sha256:"):
        return Reference.parse(f"{name}@{tag}")
    return Reference.parse(f"{name}:{tag}" if tag else name)


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=&tag=`` (pull) or ``?fromSrc=-&repo=&tag=`` (import the
    body, a root filesystem tarball)."""
    from_image, from_src = request.query.get("fromImage", ""), request.query.get("fromSrc", "")
    if from_src:
        return await _create_from_source(request, from_src)
    if not from_image:
        raise ApiError(400, "no image given: fromImage or fromSrc is required")
    try:
        ref = _reference(from_image, request.query.get("tag", ""))
    except InvalidArgument as err:
        raise ApiError(400, str(err)) from None
    if request.query.get("platform", "") not in ("", "linux", "linux/amd64"):
        raise ApiError(
            400, f"platform {request.query['platform']!r} is not supported: Berth pulls for this host"
        )
    creds = registry_credentials(request.headers.get("X-Registry-Auth", ""))
    return await stream_json_lines(request, lambda engine, emit, _stop: _pull(engine, ref, creds, emit))


async def _create_from_source(request: web.Request, source: str) -> web.StreamResponse:
    from berth.dockerapi.images import spool_body, spool_dir

    if source != "-":
        raise ApiError(400, "fromSrc must be - (the tarball in the request body): Berth fetches no URLs")
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    reference = f"{repo}:{tag}" if repo and tag else repo
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    workdir = Path(await blocking(request, spool_dir))
    try:
        body = await spool_body(request, workdir)
        return await stream_json_lines(
            request, lambda engine, emit, _stop: _import(engine, body, reference, changes, message, emit)
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _push(engine: Engine, ref: Reference, creds: Credentials | None, emit: Emit) -> None:
    emit({"status": f"The push refers to repository [{ref.name}]"})
    result = _transfer(
        engine, ref, creds, emit, "push", ("Preparing", "Pushing", "Pushed", "Layer already exists")
    )
    digest, size = str(result.manifest.digest), result.manifest.size
    emit({"status": f"{ref.tag or 'latest'}: digest: {digest} size: {size}"})
    emit({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": size}})


async def push(request: web.Request) -> web.StreamResponse:
    """``POST /images/{name}/push?tag=``: the local image to its registry."""
    try:
        ref = _reference(request.match_info["name"], request.query.get("tag", ""))
    except InvalidArgument as err:
        raise ApiError(400, str(err)) from None
    creds = registry_credentials(request.headers.get("X-Registry-Auth", ""))
    await blocking(request, _must_exist, str(ref))
    return await stream_json_lines(request, lambda engine, emit, _stop: _push(engine, ref, creds, emit))


def _must_exist(engine: Engine, name: str) -> None:
    from berth.dockerapi.images import find_catalog_image, open_store

    with open_store(engine) as store:
        find_catalog_image(store, name)


def _login(engine: Engine, server: str, creds: Credentials) -> None:
    import asyncio

    from berth.distribution import credentials
    from berth.spec.reference import Reference

    host = credentials.normalize_key(server or "docker.io").split("/", 1)[0]
    ctx = transport_context(engine, Reference.parse(f"{host}/x"), None)

    async def check() -> None:
        async with ctx.client() as client:
            await client.login(host, creds)

    asyncio.run(check())


async def auth(request: web.Request) -> web.StreamResponse:
    """``POST /auth``: check credentials against a registry; nothing is stored (the client keeps
    them and sends them with each pull and push, as with dockerd)."""
    from berth.distribution.credentials import Credentials

    body = Fields(await read_json(request, {}), "")
    username, password = body.text("username"), body.text("password")
    if not username or not password:
        raise ApiError(400, "a username and a password are required")
    try:
        await blocking(request, _login, body.text("serveraddress"), Credentials(username, password))
    except BerthError as err:
        raise ApiError(401, f"login to {body.text('serveraddress') or 'docker.io'} failed: {err}") from None
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


def register(router: Router) -> None:
    """Add pull, import, push and auth."""
    router.add("POST", "/images/create", create)
    router.add("POST", "/images/{name:.+}/push", push)
    router.add("POST", "/auth", auth)
