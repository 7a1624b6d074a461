"""Volume endpoints (engine API v1.44, Volume): create, list, inspect, remove, prune."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from berth.dockerapi.app import (
    Router,
    api_version,
    blocking,
    json_response,
    query_bool,
    query_filters,
    read_json,
)
from berth.dockerapi.container_config import Fields
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine
from berth.engine.metadata import VolumeRecord
from berth.errors import NotFound

#: The name the engine gives an anonymous volume (``-v /path``): a new object id.
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def volume_document(record: VolumeRecord) -> dict[str, Any]:
    """A volume in Docker's shape."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created_at))
    return {
        "Name": record.name,
        "Driver": record.driver,
        "Mountpoint": record.mountpoint,
        "CreatedAt": created,
        "Labels": record.labels,
        "Scope": "local",
        "Options": {},
    }


def _create(engine: Engine, name: str, labels: dict[str, str]) -> dict[str, Any]:
    from berth.engine.engine import new_id
    from berth.engine.volumes.local import create_volume

    if name:
        try:
            return volume_document(engine.db.volume(name))  # dockerd answers an existing volume, unchanged
        except NotFound:
            pass
    return volume_document(create_volume(engine, name or new_id(), labels))


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /volumes/create`` (``Name``, ``Driver`` local, ``Labels``)."""
    body = Fields(await read_json(request, {}), "")
    if body.text("Driver", "local") not in ("", "local"):
        raise ApiError(400, f"volume driver {body.text('Driver')!r} is not supported: Berth has local only")
    if body.mapping("DriverOpts"):
        raise ApiError(400, "DriverOpts are not supported by Berth's local volumes")
    doc = await blocking(request, _create, body.text("Name"), body.labels("Labels"))
    return json_response(doc, status=201)


def _matches(engine: Engine, record: VolumeRecord, filters: dict[str, list[str]]) -> bool:
    from berth.engine.volumes.local import volume_users

    for key, values in filters.items():
        if key == "name" and not any(v in record.name for v in values):
            return False
        if key == "driver" and record.driver not in values:
            return False
        if key == "label" and not all(_label_matches(record.labels, v) for v in values):
            return False
        if key == "dangling" and any(
            (v in ("1", "true")) == bool(volume_users(engine, record.name)) for v in values
        ):
            return False
        if key not in ("name", "driver", "label", "dangling"):
            raise ApiError(
                400, f"invalid filter {key!r}: Berth filters volumes by name, driver, label, dangling"
            )
    return True


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _list(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    volumes = [volume_document(r) for r in engine.db.volumes() if _matches(engine, r, filters)]
    return {"Volumes": volumes, "Warnings": []}


async def list_volumes(request: web.Request) -> web.StreamResponse:
    """``GET /volumes?filters=``."""
    return json_response(await blocking(request, _list, query_filters(request)))


async def inspect(request: web.Request) -> web.StreamResponse:
    """``GET /volumes/{name}``."""
    name = request.match_info["name"]
    return json_response(await blocking(request, lambda engine: volume_document(engine.db.volume(name))))


async def remove(request: web.Request) -> web.StreamResponse:
    """``DELETE /volumes/{name}?force=``: 409 while a container uses it."""
    from berth.engine.volumes.local import remove_volume

    name = request.match_info["name"]
    try:
        await blocking(request, remove_volume, name)
    except NotFound:
        if not query_bool(request, "force"):
            raise
    return web.Response(status=204)


def _prune(engine: Engine, filters: dict[str, list[str]], named_too: bool) -> dict[str, Any]:
    from berth.engine.volumes.local import remove_volume, volume_users

    deleted = []
    for record in engine.db.volumes():
        if not named_too and not _ANONYMOUS.match(record.name):
            continue
        if volume_users(engine, record.name) or not _matches(engine, record, filters):
            continue
        remove_volume(engine, record.name)
        deleted.append(record.name)
    return {"VolumesDeleted": deleted or None, "SpaceReclaimed": 0}


async def prune(request: web.Request) -> web.StreamResponse:
    """``POST /volumes/prune``: unused volumes; from API 1.42 only anonymous ones unless the
    filter ``all=true`` asks for named ones too (as dockerd)."""
    filters = query_filters(request)
    named_too = api_version(request) < (1, 42) or filters.pop("all", ["false"])[-1] in ("1", "true")
    return json_response(await blocking(request, _prune, filters, named_too))


def register(router: Router) -> None:
    """Add the volume endpoints."""
    router.add("POST", "/volumes/create", create)
    router.add("GET", "/volumes", list_volumes)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
