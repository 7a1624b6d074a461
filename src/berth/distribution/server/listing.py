"""Listing endpoints: tags (spec.md#listing-tags), the catalog, and referrers (#listing-referrers)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from aiohttp import web

from berth.distribution.server.context import RequestContext, parse_digest
from berth.distribution.server.errors import RegistryError
from berth.spec import mediatypes
from berth.spec.distribution import NAME_UNKNOWN, UNSUPPORTED


def _paginate(ctx: RequestContext, items: list[str], path: str) -> tuple[list[str], dict[str, str]]:
    """Apply ``n`` and ``last``; return the page and, if more follow, its ``Link`` header."""
    query = ctx.request.query
    last = query.get("last")
    if last is not None:
        items = [item for item in items if item > last]
    if "n" not in query:
        return items, {}
    try:
        n = int(query["n"])
    except ValueError:
        raise RegistryError(UNSUPPORTED, status=400, message="n is not a number") from None
    if n < 0:
        raise RegistryError(UNSUPPORTED, status=400, message="n is negative")
    page = items[:n]
    headers = {}
    # spec.md#listing-tags: with n=0 the list is empty and there is no Link header.
    if 0 < n < len(items):
        link = f"{path}?{urlencode({'n': n, 'last': page[-1]})}"
        headers["Link"] = f'<{link}>; rel="next"'
    return page, headers


async def list_tags(ctx: RequestContext) -> web.StreamResponse:
    """GET ``/v2/<name>/tags/list``, in ASCII order, with ``n``/``last`` pagination."""
    name = ctx.route.name
    store = ctx.registry.store
    if not await store.repository_exists(name):
        raise RegistryError(NAME_UNKNOWN, detail={"name": name})
    tags, headers = _paginate(ctx, sorted(await store.list_tags(name)), f"/v2/{name}/tags/list")
    return web.json_response({"name": name, "tags": tags}, headers=headers)


async def catalog(ctx: RequestContext) -> web.StreamResponse:
    """GET ``/v2/_catalog``: every repository name, with ``n``/``last`` pagination."""
    names, headers = _paginate(ctx, await ctx.registry.store.list_repositories(), "/v2/_catalog")
    return web.json_response({"repositories": names}, headers=headers)


async def referrers(ctx: RequestContext) -> web.StreamResponse:
    """GET ``/v2/<name>/referrers/<digest>``: an image index of the manifests whose subject it is."""
    subject = parse_digest(ctx.route.reference)
    found = await ctx.registry.store.referrers(ctx.route.name, subject)
    headers = {}
    artifact_type = ctx.request.query.get("artifactType")
    if artifact_type is not None:
        found = [d for d in found if d.get("artifactType") == artifact_type]
        headers["OCI-Filters-Applied"] = "artifactType"
    found.sort(key=lambda d: str(d.get("digest")))
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": found}
    return web.Response(body=json.dumps(index).encode(), content_type=mediatypes.OCI_INDEX, headers=headers)
