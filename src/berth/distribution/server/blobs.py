"""Blob endpoints: HEAD/GET (with ``Range``) and DELETE of ``/v2/<name>/blobs/<digest>``
(spec.md#pulling-blobs, #deleting-blobs).

Blob bodies are copied from the storage driver's reader into the socket, not handed to ``sendfile``.
On a connection within one host (loopback, or a container's veth) the kernel passes the sender's
socket buffers to the reader as they are: ``sendfile`` fills them with references to page-cache
pages, one per 4 KiB, and the reading client then pays for each of them on its own critical path
(twice the receive CPU of copied buffers, measured with curl and skopeo; docs/registry.md#speed).
Copying costs the server a read and a send of every byte and leaves the client compact, cache-warm
buffers.
"""

from __future__ import annotations

from aiohttp import web

from berth.distribution.server.context import RequestContext, parse_digest
from berth.distribution.server.errors import RegistryError
from berth.distribution.storage.driver import PathNotFound
from berth.distribution.storage.layout import blob_data_path
from berth.spec.distribution import BLOB_UNKNOWN

OCTET_STREAM = "application/octet-stream"


async def get_blob(ctx: RequestContext) -> web.StreamResponse:
    """Serve a blob, or the byte range its ``Range`` header asks for (206; 416 past the end)."""
    digest = parse_digest(ctx.route.reference)
    store = ctx.registry.store
    size = await store.blob_size(digest) if await store.has_blob_link(ctx.route.name, digest) else None
    if size is None:
        raise RegistryError(BLOB_UNKNOWN, detail=str(digest))
    # A blob's content never changes, so its digest is its entity tag (RFC 9110 section 8.8.3).
    etag = f'"{digest}"'
    headers = {"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes", "ETag": etag}
    request = ctx.request
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return web.Response(status=200, headers=headers, content_type=OCTET_STREAM)
    if _none_match_fails(request, etag):
        return web.Response(status=304, headers=headers)
    span = _requested_span(request, size)
    if span is None:
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    offset, length = span
    chunks = store.driver.reader(blob_data_path(digest), offset, length)
    try:
        # Open the blob before the status line goes out, so one collected meanwhile is still a 404.
        chunk = await anext(chunks, b"")
    except PathNotFound:
        raise RegistryError(BLOB_UNKNOWN, detail=str(digest)) from None
    partial = (offset, length) != (0, size)
    if partial:
        headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{size}"
    response = web.StreamResponse(status=206 if partial else 200, headers=headers)
    response.content_type = OCTET_STREAM
    response.content_length = length
    await response.prepare(request)
    while chunk:
        # A view: the transport keeps what the socket did not take without copying it first.
        await response.write(memoryview(chunk))
        chunk = await anext(chunks, b"")
    return response


async def delete_blob(ctx: RequestContext) -> web.StreamResponse:
    """Remove a blob from the repository (spec.md#deleting-blobs); its content waits for gc."""
    digest = parse_digest(ctx.route.reference)
    store = ctx.registry.store
    if not await store.has_blob_link(ctx.route.name, digest):
        raise RegistryError(BLOB_UNKNOWN, detail=str(digest))
    await store.unlink_blob(ctx.route.name, digest)
    return web.Response(status=202)


def _none_match_fails(request: web.Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names this blob's tag or ``*`` (RFC 9110 section 13.1.2, weak
    comparison): the client has the content already and gets 304."""
    tags = {
        t.strip().removeprefix("W/")
        for h in request.headers.getall("If-None-Match", [])
        for t in h.split(",")
    }
    return etag in tags or "*" in tags


def _requested_span(request: web.Request, size: int) -> tuple[int, int] | None:
    """The ``(offset, length)`` a GET asks for: the whole blob without ``Range``, None if the range
    cannot be served (RFC 9110 section 14.2: a single byte range, first byte inside the blob)."""
    if "Range" not in request.headers:
        return 0, size
    try:
        wanted = request.http_range
    except ValueError:
        return None
    start, stop = wanted.start, wanted.stop
    if start is None:
        return 0, size
    if start < 0:  # a suffix range, bytes=-N: the last N bytes
        start = max(size + start, 0)
        stop = None
    if start >= size:
        return None
    end = size if stop is None else min(stop, size)
    return start, end - start
