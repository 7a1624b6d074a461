"""Blob endpoints: HEAD/GET (with ``Range``) and DELETE of ``/v2/<name>/blobs/<digest>``
(spec.md#pulling-blobs, #deleting-blobs)."""

from __future__ import annotations

from aiohttp import web

from berth.distribution.server.context import RequestContext, parse_digest
from berth.distribution.server.errors import RegistryError
from berth.distribution.storage.layout import blob_data_path
from berth.spec.distribution import BLOB_UNKNOWN

OCTET_STREAM = "application/octet-stream"


async def get_blob(ctx: RequestContext) -> web.StreamResponse:
    """Serve a blob; aiohttp's ``FileResponse`` answers ``Range`` with 206/416 and uses sendfile."""
    digest = parse_digest(ctx.route.reference)
    store = ctx.registry.store
    size = await store.blob_size(digest) if await store.has_blob_link(ctx.route.name, digest) else None
    if size is None:
        raise RegistryError(BLOB_UNKNOWN, detail=str(digest))
    headers = {"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes"}
    if ctx.request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return web.Response(status=200, headers=headers, content_type=OCTET_STREAM)
    local = store.driver.local_path(blob_data_path(digest))
    if local is not None:
        response = web.FileResponse(local, headers=headers)
        response.content_type = OCTET_STREAM
        return response
    stream = web.StreamResponse(headers=headers)
    stream.content_type = OCTET_STREAM
    stream.content_length = size
    await stream.prepare(ctx.request)
    async for chunk in store.driver.reader(blob_data_path(digest)):
        await stream.write(chunk)
    return stream


async def delete_blob(ctx: RequestContext) -> web.StreamResponse:
    """Remove a blob from the repository (spec.md#deleting-blobs); its content waits for gc."""
    digest = parse_digest(ctx.route.reference)
    store = ctx.registry.store
    if not await store.has_blob_link(ctx.route.name, digest):
        raise RegistryError(BLOB_UNKNOWN, detail=str(digest))
    await store.unlink_blob(ctx.route.name, digest)
    return web.Response(status=202)
