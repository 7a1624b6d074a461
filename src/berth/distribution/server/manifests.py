"""Manifest endpoints: HEAD/GET/PUT/DELETE of ``/v2/<name>/manifests/<tag-or-digest>``
(spec.md#pulling-manifests, #pushing-manifests, #deleting-manifests)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from berth.distribution.server.context import RequestContext, parse_digest
from berth.distribution.server.errors import RegistryError
from berth.distribution.server.validation import ManifestInfo, inspect_manifest
from berth.distribution.storage.driver import PathNotFound
from berth.distribution.storage.layout import blob_data_path
from berth.spec.digest import Digest
from berth.spec.distribution import (
    DIGEST_INVALID,
    MANIFEST_BLOB_UNKNOWN,
    MANIFEST_INVALID,
    MANIFEST_UNKNOWN,
    MAX_MANIFEST_SIZE,
    NAME_UNKNOWN,
    SIZE_INVALID,
    is_valid_tag,
)


def _is_digest(reference: str) -> bool:
    return ":" in reference


async def _resolve(ctx: RequestContext) -> Digest:
    """The digest a ``<tag-or-digest>`` names in this repository, or ``MANIFEST_UNKNOWN``."""
    reference = ctx.route.reference
    if _is_digest(reference):
        return parse_digest(reference)
    if not is_valid_tag(reference):
        raise RegistryError(MANIFEST_UNKNOWN, detail={"tag": reference})
    digest = await ctx.registry.store.resolve_tag(ctx.route.name, reference)
    if digest is None:
        raise RegistryError(MANIFEST_UNKNOWN, detail={"tag": reference})
    return digest


def _accepted(request: web.Request, media_type: str) -> bool:
    """Content negotiation (spec.md#pulling-manifests): is ``media_type`` acceptable to the client?

    No ``Accept`` header, or a wildcard, accepts anything; otherwise the stored type must be listed.
    """
    values = [
        part.split(";", 1)[0].strip()
        for header in request.headers.getall("Accept", [])
        for part in header.split(",")
    ]
    values = [v for v in values if v]
    return not values or media_type in values or "*/*" in values or "application/*" in values


async def get_manifest(ctx: RequestContext) -> web.StreamResponse:
    """HEAD or GET a manifest by tag or digest, exactly as it was pushed."""
    digest = await _resolve(ctx)
    stored = await ctx.registry.store.get_manifest(ctx.route.name, digest)
    if stored is None:
        raise RegistryError(MANIFEST_UNKNOWN, detail={"digest": str(digest)})
    if not _accepted(ctx.request, stored.media_type):
        raise RegistryError(
            MANIFEST_UNKNOWN,
            detail={"mediaType": stored.media_type},
            message=f"manifest is a {stored.media_type}, which the Accept header does not list",
        )
    headers = {"Docker-Content-Digest": str(digest), "ETag": f'"{digest}"'}
    if ctx.request.method == "HEAD":
        headers["Content-Length"] = str(len(stored.content))
        return web.Response(status=200, headers=headers, content_type=stored.media_type)
    return web.Response(status=200, body=stored.content, headers=headers, content_type=stored.media_type)


async def _read_manifest_body(request: web.Request) -> bytes:
    """The request body, refusing more than ``MAX_MANIFEST_SIZE`` (spec.md: 413 Payload Too Large)."""
    too_large = RegistryError(
        SIZE_INVALID,
        status=413,
        detail={"limit": MAX_MANIFEST_SIZE},
        message=f"manifest exceeds the {MAX_MANIFEST_SIZE} byte limit",
    )
    if request.content_length is not None and request.content_length > MAX_MANIFEST_SIZE:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_MANIFEST_SIZE:
            raise too_large
    return bytes(body)


async def put_manifest(ctx: RequestContext) -> web.StreamResponse:
    """PUT a manifest: verify digest and references, store its bytes, tag it, record its subject."""
    name, reference = ctx.route.name, ctx.route.reference
    tags = ctx.request.query.getall("tag", [])
    if not _is_digest(reference):
        tags = [reference, *tags]
    for tag in tags:
        if not is_valid_tag(tag):
            raise RegistryError(MANIFEST_INVALID, detail={"tag": tag}, message=f"invalid tag {tag!r}")
    content = await _read_manifest_body(ctx.request)
    ctx.registry.metrics.bytes_in += len(content)
    if _is_digest(reference):
        expected = parse_digest(reference)
        digest = Digest.of(content, expected.algorithm)
        if digest != expected:
            raise RegistryError(DIGEST_INVALID, detail={"expected": str(expected), "actual": str(digest)})
    else:
        digest = Digest.of(content)
    content_type = ctx.request.headers.get("Content-Type", "").split(";", 1)[0].strip()
    info = inspect_manifest(content, content_type)
    await _check_references(ctx, info)
    store = ctx.registry.store
    await store.put_manifest(name, digest, info.media_type, content, tags)
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
    if info.subject is not None:
        await store.add_referrer(name, info.subject, _referrer_descriptor(info, digest, len(content)))
        headers["OCI-Subject"] = str(info.subject)
    response = web.Response(status=201, headers=headers)
    for tag in ctx.request.query.getall("tag", []):
        response.headers.add("OCI-Tag", tag)
    return response


def _referrer_descriptor(info: ManifestInfo, digest: Digest, size: int) -> dict[str, Any]:
    """spec.md#listing-referrers: the descriptor of a referrer, with artifactType and annotations."""
    descriptor: dict[str, Any] = {"mediaType": info.media_type, "digest": str(digest), "size": size}
    if info.artifact_type:
        descriptor["artifactType"] = info.artifact_type
    if info.annotations:
        descriptor["annotations"] = info.annotations
    return descriptor


async def _check_references(ctx: RequestContext, info: ManifestInfo) -> None:
    """Refuse a manifest naming blobs or manifests this repository lacks (spec.md#push: MAY).

    The spec's allowances: the ``subject`` need not exist, nor may non-distributable layers (they are
    fetched from their ``urls``); with ``allow_sparse`` nothing is checked, for partial mirrors.
    """
    if ctx.registry.config.allow_sparse:
        return
    store = ctx.registry.store
    missing = []
    for descriptor in info.blobs:
        if descriptor.nondistributable:
            continue
        if not await store.has_blob_link(ctx.route.name, descriptor.digest):
            missing.append(str(descriptor.digest))
        else:
            # Refresh the blob's clock so a garbage collection running now keeps it.
            try:
                await store.driver.touch(blob_data_path(descriptor.digest))
            except PathNotFound:
                missing.append(str(descriptor.digest))
    for child in info.manifests:
        if await store.manifest_media_type(ctx.route.name, child) is None:
            missing.append(str(child))
    if missing:
        raise RegistryError(MANIFEST_BLOB_UNKNOWN, detail={"missing": missing})


async def delete_manifest(ctx: RequestContext) -> web.StreamResponse:
    """DELETE a tag (202), or a manifest by digest with its tags and referrer entries (202)."""
    name, reference = ctx.route.name, ctx.route.reference
    store = ctx.registry.store
    if not await store.repository_exists(name):
        raise RegistryError(NAME_UNKNOWN, detail={"name": name})
    if not _is_digest(reference):
        if not is_valid_tag(reference) or not await store.delete_tag(name, reference):
            raise RegistryError(MANIFEST_UNKNOWN, detail={"tag": reference})
        return web.Response(status=202)
    digest = parse_digest(reference)
    stored = await store.get_manifest(name, digest)
    if stored is None:
        raise RegistryError(MANIFEST_UNKNOWN, detail={"digest": str(digest)})
    try:
        info = inspect_manifest(stored.content, stored.media_type)
    except RegistryError:
        info = None
    await store.delete_manifest(name, digest)
    if info is not None and info.subject is not None:
        await store.remove_referrer(name, info.subject, digest)
    return web.Response(status=202)
