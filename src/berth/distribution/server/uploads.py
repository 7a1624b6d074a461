"""Blob upload endpoints (spec.md#pushing-blobs): POST (monolithic, session, mount), PATCH, PUT,
GET status and DELETE cancel of ``/v2/<name>/blobs/uploads/``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import web

from berth.distribution.server.context import (
    RequestContext,
    blob_location,
    parse_digest,
    upload_location,
)
from berth.distribution.server.errors import RegistryError
from berth.distribution.storage.driver import PathNotFound
from berth.distribution.storage.layout import blob_data_path
from berth.distribution.storage.uploads import RangeMismatch, UploadUnknown
from berth.errors import DigestMismatch
from berth.spec.digest import SUPPORTED_ALGORITHMS, Digest
from berth.spec.distribution import (
    BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN,
    DIGEST_INVALID,
    NAME_INVALID,
    SIZE_INVALID,
    is_valid_name,
)

# spec.md#pushing-a-blob-in-chunks: Content-Range is "<start>-<end>", inclusive.
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
_BODY_CHUNK = 1 << 20


def _body(request: web.Request) -> AsyncIterator[bytes]:
    return request.content.iter_chunked(_BODY_CHUNK)


def _range_header(size: int) -> str:
    # spec.md: "Range: 0-<end-of-range>", the last byte received; an empty upload reads "0-0".
    return f"0-{max(size - 1, 0)}"


def _session_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": upload_location(name, upload_id),
        "Range": _range_header(size),
        "Docker-Upload-UUID": upload_id,
    }


def _created(name: str, digest: Digest) -> web.Response:
    return web.Response(
        status=201,
        headers={"Location": blob_location(name, digest), "Docker-Content-Digest": str(digest)},
    )


def _chunk_range(request: web.Request) -> tuple[int, int] | None:
    """Start and length from ``Content-Range``; ``SIZE_INVALID`` if it disagrees with ``Content-Length``."""
    header = request.headers.get("Content-Range")
    if header is None:
        return None
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise RegistryError(BLOB_UPLOAD_INVALID, status=416, detail=f"bad Content-Range {header!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RegistryError(BLOB_UPLOAD_INVALID, status=416, detail=f"bad Content-Range {header!r}")
    length = end - start + 1
    if request.content_length is not None and request.content_length != length:
        raise RegistryError(
            SIZE_INVALID,
            detail=f"Content-Range {header} is {length} bytes, Content-Length {request.content_length}",
        )
    return start, length


async def start_upload(ctx: RequestContext) -> web.StreamResponse:
    """POST: mount, monolithic upload with ``digest``, or a new session (202)."""
    name = ctx.route.name
    query = ctx.request.query
    registry = ctx.registry
    if "mount" in query:
        mounted = await _mount(ctx, parse_digest(query["mount"]), query.get("from"))
        if mounted is not None:
            return mounted
    algorithm = query.get("digest-algorithm", "sha256")
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise RegistryError(DIGEST_INVALID, detail=algorithm, message="unsupported digest algorithm")
    if "digest" in query:
        # spec.md#single-post: the whole blob in the POST body.
        digest = parse_digest(query["digest"])
        upload_id = await registry.uploads.start(name, digest.algorithm)
        try:
            await registry.uploads.append(name, upload_id, _body(ctx.request))
        except BaseException:
            await registry.uploads.cancel(name, upload_id)
            raise
        await _finish(ctx, upload_id, digest)
        return _created(name, digest)
    upload_id = await registry.uploads.start(name, algorithm)
    return web.Response(status=202, headers=_session_headers(name, upload_id, 0))


async def _mount(ctx: RequestContext, digest: Digest, source: str | None) -> web.Response | None:
    """spec.md#mounting-a-blob-from-another-repository: 201 if the blob can be linked, else None."""
    store = ctx.registry.store
    if source is not None:
        if not is_valid_name(source):
            raise RegistryError(NAME_INVALID, detail={"name": source})
        if not await store.has_blob_link(source, digest):
            return None
    # Without ``from`` the spec lets a registry mount the blob "if it can be found".
    elif await store.blob_size(digest) is None:
        return None
    # Refresh the blob's clock so a garbage collection running now spares what was just mounted.
    try:
        await store.driver.touch(blob_data_path(digest))
    except PathNotFound:
        return None
    await store.link_blob(ctx.route.name, digest)
    return _created(ctx.route.name, digest)


async def _finish(ctx: RequestContext, upload_id: str, digest: Digest) -> None:
    try:
        await ctx.registry.uploads.finish(ctx.route.name, upload_id, digest)
    except DigestMismatch as err:
        raise RegistryError(DIGEST_INVALID, detail=str(err)) from None


def _upload_unknown(upload_id: str) -> RegistryError:
    return RegistryError(BLOB_UPLOAD_UNKNOWN, detail=upload_id)


async def patch_upload(ctx: RequestContext) -> web.StreamResponse:
    """PATCH: append a chunk (with ``Content-Range``) or a stream (without)."""
    name, upload_id = ctx.route.name, ctx.route.reference
    chunk = _chunk_range(ctx.request)
    try:
        size = await ctx.registry.uploads.append(
            name, upload_id, _body(ctx.request), None if chunk is None else chunk[0]
        )
    except UploadUnknown:
        raise _upload_unknown(upload_id) from None
    except RangeMismatch as err:
        raise _out_of_order(name, upload_id, err.size) from None
    return web.Response(status=202, headers=_session_headers(name, upload_id, size))


def _out_of_order(name: str, upload_id: str, size: int) -> RegistryError:
    # spec.md: chunks out of order get 416; the headers say where the upload stands.
    return RegistryError(
        BLOB_UPLOAD_INVALID,
        status=416,
        detail="chunk out of order",
        headers=_session_headers(name, upload_id, size),
    )


async def put_upload(ctx: RequestContext) -> web.StreamResponse:
    """PUT ``?digest=``: take an optional last chunk, verify, publish the blob (201)."""
    name, upload_id = ctx.route.name, ctx.route.reference
    if "digest" not in ctx.request.query:
        raise RegistryError(DIGEST_INVALID, message="the closing PUT needs a digest parameter")
    digest = parse_digest(ctx.request.query["digest"])
    chunk = _chunk_range(ctx.request)
    try:
        if chunk is not None or ctx.request.can_read_body:
            await ctx.registry.uploads.append(
                name, upload_id, _body(ctx.request), None if chunk is None else chunk[0]
            )
        await _finish(ctx, upload_id, digest)
    except UploadUnknown:
        raise _upload_unknown(upload_id) from None
    except RangeMismatch as err:
        raise _out_of_order(name, upload_id, err.size) from None
    return _created(name, digest)


async def upload_status(ctx: RequestContext) -> web.StreamResponse:
    """GET: where the upload stands (204 with ``Range``)."""
    name, upload_id = ctx.route.name, ctx.route.reference
    try:
        size = await ctx.registry.uploads.size(name, upload_id)
    except UploadUnknown:
        raise _upload_unknown(upload_id) from None
    return web.Response(status=204, headers=_session_headers(name, upload_id, size))


async def cancel_upload(ctx: RequestContext) -> web.StreamResponse:
    """DELETE: abandon the upload (204)."""
    try:
        await ctx.registry.uploads.cancel(ctx.route.name, ctx.route.reference)
    except UploadUnknown:
        raise _upload_unknown(ctx.route.reference) from None
    return web.Response(status=204)
