"""Image endpoints on the local store (engine API v1.44, Image): list, inspect, history, tag,
remove, prune, save (``get``), load, search. Pull and push,
which stream progress, are in ``image_transfer``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from berth.dockerapi.app import (
    Router,
    blocking,
    json_response,
    query_bool,
    query_filters,
    query_int,
    send_all,
)
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine
from berth.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.image.catalog import CatalogImage
    from berth.image.images import ImageStore

#: Where request bodies and answers bigger than memory are spooled (in the storage root: images
#: can be larger than a tmpfs /tmp).
_SPOOL = "tmp"


@contextlib.contextmanager
def open_store(engine: Engine) -> Iterator[ImageStore]:
    """The engine's image store, closed afterwards."""
    from berth.engine.images.store import images_root
    from berth.image.images import ImageStore

    store = ImageStore(images_root(engine.config))
    try:
        yield store
    finally:
        store.close()


def find_catalog_image(store: ImageStore, name: str) -> CatalogImage:
    """The image ``name`` names; Docker's 404 "No such image" if none."""
    from berth.image.catalog import find_image

    try:
        return find_image(store, name)[0]
    except NotFound:
        raise ApiError(404, f"No such image: {name}") from None


def _summary(entry: CatalogImage, users: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "Id": f"sha256:{entry.id}",
        "ParentId": "",
        "RepoTags": entry.names or None,
        "RepoDigests": entry.repo_digests or None,
        "Created": int(entry.created),
        "Size": entry.size,
        "SharedSize": -1,
        "VirtualSize": entry.size,
        "Labels": entry.labels or None,
        "Containers": len(users.get(entry.id, [])),
    }


def _podman_filter(key: str, value: str) -> str:
    """A Docker image filter in the catalog's ``KEY=VALUE`` form."""
    if key not in ("reference", "dangling", "label"):
        raise ApiError(400, f"invalid filter {key!r}: Berth filters images by reference, dangling, label")
    return f"{key}={value}"


def list_summaries(engine: Engine, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    """``GET /images/json``'s entries: the images passing ``filters``, newest first."""
    from berth.engine.images.manage import users_by_image
    from berth.image.catalog import check_filter, list_images, matches

    texts = [_podman_filter(key, value) for key, values in filters.items() for value in values]
    for text in texts:
        check_filter(text)
    with open_store(engine) as store:
        entries = [e for e in list_images(store) if all(matches(e, t) for t in texts)]
    users = users_by_image(engine.config, entries)
    entries.sort(key=lambda e: e.created, reverse=True)
    return [_summary(e, users) for e in entries]


async def list_images(request: web.Request) -> web.StreamResponse:
    """``GET /images/json?filters=``."""
    return json_response(await blocking(request, list_summaries, query_filters(request)))


def _inspect(engine: Engine, name: str) -> dict[str, Any]:
    with open_store(engine) as store:
        entry = find_catalog_image(store, name)
    if entry.resolved is None:
        raise ApiError(500, f"image {name}: {entry.error}")
    cfg = entry.resolved.config
    container_config = cfg.config.to_json()
    return {
        "Id": f"sha256:{entry.id}",
        "RepoTags": entry.names,
        "RepoDigests": entry.repo_digests,
        "Parent": "",
        "Comment": cfg.history[-1].comment if cfg.history else "",
        "Created": cfg.created,
        "Container": "",
        "ContainerConfig": {},
        "DockerVersion": "",
        "Author": cfg.author,
        "Config": {
            "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
            "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
            "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None,
            "Labels": None, **container_config,
        },
        "Architecture": cfg.architecture,
        **({"Variant": cfg.variant} if cfg.variant else {}),
        "Os": cfg.os,
        "Size": entry.size,
        "VirtualSize": entry.size,
        "GraphDriver": {"Name": "overlay", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in cfg.diff_ids]},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }  # fmt: skip


async def inspect(request: web.Request) -> web.StreamResponse:
    """``GET /images/{name}/json``."""
    return json_response(await blocking(request, _inspect, request.match_info["name"]))


def _history(engine: Engine, name: str) -> list[dict[str, Any]]:
    from berth.image.catalog import HistoryRow, history, timestamp

    with open_store(engine) as store:
        entry = find_catalog_image(store, name)
    if entry.resolved is None:
        raise ApiError(500, f"image {name}: {entry.error}")
    rows = history(entry.resolved)
    if not rows:  # a config without history (not every builder writes one): the image as one step
        rows = [HistoryRow(entry.id, "", "", entry.size, "")]
    return [
        {
            # dockerd: the newest entry is the image itself
            "Id": f"sha256:{entry.id}" if i == 0 else f"sha256:{row.id}" if row.id != "<missing>" else row.id,
            "Created": int(timestamp(row.created) or 0) if row.created else 0,
            "CreatedBy": row.created_by,
            "Tags": entry.names if i == 0 else None,
            "Size": row.size,
            "Comment": row.comment,
        }
        for i, row in enumerate(rows)
    ]


async def history(request: web.Request) -> web.StreamResponse:
    """``GET /images/{name}/history``: newest first."""
    return json_response(await blocking(request, _history, request.match_info["name"]))


def _tag(engine: Engine, name: str, repo: str, tag: str) -> None:
    from berth.engine.event_log import object_event
    from berth.image.catalog import local_name
    from berth.image.importer import record_image

    new = local_name(f"{repo}:{tag}" if tag else repo)
    with open_store(engine) as store:
        entry = find_catalog_image(store, name)
        record_image(store, new, entry.records[0].target)
    object_event(engine.config, "image", "tag", new, entry.id)


async def tag(request: web.Request) -> web.StreamResponse:
    """``POST /images/{name}/tag?repo=&tag=``: 201."""
    repo = request.query.get("repo", "")
    if not repo:
        raise ApiError(400, "no repository given: the repo query parameter is required")
    await blocking(request, _tag, request.match_info["name"], repo, request.query.get("tag", ""))
    return web.Response(status=201)


def _remove_containers(engine: Engine, names: list[str]) -> None:
    from berth.engine.containers.remove import remove_container

    for name in names:
        remove_container(engine, name, force=True)


def _remove(engine: Engine, name: str, force: bool) -> list[dict[str, str]]:
    from berth.engine.images.manage import prune_unused_snapshots, remove_image

    with open_store(engine) as store:
        find_catalog_image(store, name)
        removed = remove_image(
            engine.config, store, name, force, lambda users: _remove_containers(engine, users)
        )
        store.gc()
        prune_unused_snapshots(engine.config, store)
    return [{kind: what if kind == "Untagged" else f"sha256:{what}"} for kind, what in removed]


async def remove(request: web.Request) -> web.StreamResponse:
    """``DELETE /images/{name}?force=``: what was untagged and deleted; 409 for an image in use."""
    force = query_bool(request, "force")
    return json_response(await blocking(request, _remove, request.match_info["name"], force))


def _prune(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    from berth.engine.images.manage import prune_images

    dangling = filters.pop("dangling", ["true"])[-1].lower() in ("1", "true")
    if filters:
        raise ApiError(400, f"invalid filter {next(iter(filters))!r}: Berth prunes images by dangling only")
    with open_store(engine) as store:
        doomed, report = prune_images(engine.config, store, everything=not dangling)
    deleted = [
        *({"Untagged": name} for entry in doomed for name in entry.names),
        *({"Deleted": f"sha256:{entry.id}"} for entry in doomed),
    ]
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": report.freed_bytes}


async def prune(request: web.Request) -> web.StreamResponse:
    """``POST /images/prune?filters=``: untagged images no container uses (``dangling=false``: all)."""
    return json_response(await blocking(request, _prune, query_filters(request)))


def _search(engine: Engine, term: str, limit: int, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from berth.distribution import registries_files
    from berth.distribution.client.search import SearchFilters, search
    from berth.dockerapi.image_transfer import loopback_registry

    texts = [f"{key}={value}" for key, values in filters.items() for value in values]
    found = search(
        term,
        registries_files.load(),
        limit=limit,
        filters=SearchFilters.parse(texts),
        insecure=loopback_registry,
    )
    # Docker's fields, and podman's compat answer's ``Name`` and ``Description`` too (podman's
    # compat tests read those; docker-py passes the objects on as they are and the docker CLI's
    # JSON decoding matches keys regardless of case, so both read the same values).
    return [{**asdict(r), "Name": r.name, "Description": r.description} for r in found]


async def search(request: web.Request) -> web.StreamResponse:
    """``GET /images/search?term=&limit=&filters=``: Docker Hub's v1 search or, for registries
    without one, their catalog (docs/docker-api.md)."""
    from berth.distribution.client.search import DEFAULT_LIMIT

    term = request.query.get("term", "")
    limit = query_int(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    return json_response(await blocking(request, _search, term, limit, query_filters(request)))


def spool_dir(engine: Engine) -> Path:
    """A new private directory for one request's temporary files, in the storage root's scratch
    directory and named after this process (``owned_root_key``): a build's sweep of dead
    processes' scratch spares it while the service runs, and removes it once the service is gone."""
    from berth.engine.images.store import owned_root_key

    base = engine.config.root / _SPOOL
    base.mkdir(parents=True, exist_ok=True)
    path = base / owned_root_key("api")
    path.mkdir(mode=0o700)
    return path


def _save(engine: Engine, names: list[str], output: Path) -> None:
    from berth.distribution.archive import save_docker_archive
    from berth.engine.event_log import object_event
    from berth.image.catalog import find_image
    from berth.image.importer import is_untagged

    groups: dict[str, tuple[str, list[str]]] = {}
    with open_store(engine) as store:
        found = []
        for name in names:
            try:
                found.append(find_image(store, name))
            except NotFound:
                raise ApiError(404, f"No such image: {name}") from None
    for entry, record in found:
        tags = groups.setdefault(entry.id, (entry.records[0].name, []))[1]
        if record is not None and not is_untagged(record.name) and record.name not in tags:
            tags.append(record.name)
    save_docker_archive(engine.config.root, list(groups.values()), output)
    for entry, _record in found:
        object_event(engine.config, "image", "save", entry.names[0] if entry.names else entry.id, entry.id)


async def _send_file(request: web.Request, path: Path, content_type: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)

    async def chunks() -> AsyncIterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    return await send_all(response, chunks())


async def save(request: web.Request) -> web.StreamResponse:
    """``GET /images/{name}/get`` and ``GET /images/get?names=``: a docker-archive tarball."""
    names = (
        [request.match_info["name"]] if "name" in request.match_info else request.query.getall("names", [])
    )
    if not names:
        raise ApiError(400, "no image given: the names query parameter is required")
    workdir = Path(await blocking(request, spool_dir))
    try:
        archive = workdir / "images.tar"
        await blocking(request, _save, names, archive)
        return await _send_file(request, archive, "application/x-tar")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def spool_body(request: web.Request, directory: Path) -> Path:
    """The request body saved to a file in ``directory`` (archives are read more than once)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix="body-")
    with os.fdopen(fd, "wb") as out:
        async for chunk in request.content.iter_chunked(1 << 20):
            out.write(chunk)
    return Path(name)


def _load(engine: Engine, archive: Path) -> list[str]:
    from berth.distribution.archive import load
    from berth.engine.event_log import object_event

    names = load(engine.config.root, archive)
    for name in names:
        object_event(engine.config, "image", "loadfromarchive", name)
    return names


async def load(request: web.Request) -> web.StreamResponse:
    """``POST /images/load``: a docker-archive or oci-archive body; ``{"stream": "Loaded image:
    NAME\\n"}`` lines."""
    workdir = Path(await blocking(request, spool_dir))
    try:
        archive = await spool_body(request, workdir)
        names = await blocking(request, _load, archive)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = b"".join(json.dumps({"stream": f"Loaded image: {n}\n"}).encode() + b"\n" for n in names)
    return web.Response(body=lines, content_type="application/json")


def register(router: Router) -> None:
    """Add the local image endpoints. Image names contain slashes: their routes match greedily."""
    router.add("GET", "/images/json", list_images)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/search", search)
    router.add("GET", "/images/get", save)
    router.add("POST", "/images/load", load)
    router.add("GET", "/images/{name:.+}/json", inspect)
    router.add("GET", "/images/{name:.+}/history", history)
    router.add("POST", "/images/{name:.+}/tag", tag)
    router.add("GET", "/images/{name:.+}/get", save)
    router.add("DELETE", "/images/{name:.+}", remove)
