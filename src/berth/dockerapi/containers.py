"""Container endpoints (engine API v1.44, Container): create, the lifecycle verbs, list, inspect,
top, changes, export, rename, update, prune. Streams (logs, attach, wait, stats) are in
``container_streams``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from berth.dockerapi import container_streams, container_view
from berth.dockerapi.app import (
    Router,
    blocking,
    json_response,
    query_bool,
    query_filters,
    query_int,
    read_json,
)
from berth.dockerapi.container_config import Fields, create_options, more_networks
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.errors import InvalidState, NotFound


def _no_content() -> web.Response:
    return web.Response(status=204)


def _not_modified() -> web.Response:
    return web.Response(status=304)


def _create(engine: Engine, body: Any, name: str) -> ContainerRecord:
    from berth.engine.containers.create import create_container
    from berth.engine.containers.network_connect import connect_network
    from berth.engine.containers.remove import remove_container

    opts = create_options(body, name)
    others = more_networks(body)
    for network in others:
        engine.db.network(network)  # a missing one is a 404 before anything is made
    try:
        record = create_container(engine, opts)
    except NotFound as err:
        if "pull it first" in str(err):
            # The client pulls on a 404 "No such image" and creates again (docker run).
            raise ApiError(404, f"No such image: {opts.image}") from None
        raise
    try:
        for network, (aliases, request) in others.items():
            connect_network(engine, record.id, network, aliases, request)
    except BaseException:
        remove_container(engine, record.id, force=True, volumes=True)
        raise
    return engine.db.container(record.id)


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /containers/create?name=``: 201 ``{"Id", "Warnings"}``."""
    body = await read_json(request, {})
    record = await blocking(request, _create, body, request.query.get("name", ""))
    return json_response({"Id": record.id, "Warnings": []}, status=201)


def _is_active(engine: Engine, ref: str) -> bool:
    from berth.engine.containers.state import refresh

    return refresh(engine, engine.db.container(ref)).state in ACTIVE


async def start(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/start``: 204, or 304 if it runs already."""
    ref = request.match_info["id"]
    if await blocking(request, _is_active, ref):
        return _not_modified()
    await container_streams.start(request, ref)
    return _no_content()


def _stop(engine: Engine, ref: str, timeout: int | None) -> bool:
    from berth.engine.containers.stop import stop_container

    if not _is_active(engine, ref):
        return False
    stop_container(engine, ref, None if timeout is None else float(timeout))
    return True


async def stop(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/stop?t=``: 204, or 304 if it was not running."""
    timeout = query_int(request, "t")
    stopped = await blocking(request, _stop, request.match_info["id"], timeout)
    return _no_content() if stopped else _not_modified()


async def restart(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/restart?t=``."""
    from berth.engine.containers.stop import restart_container

    timeout = query_int(request, "t")
    await blocking(request, restart_container, request.match_info["id"], timeout)
    return _no_content()


async def kill(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/kill?signal=``: 409 if it is not running."""
    from berth.engine.containers.stop import kill_container

    await blocking(request, kill_container, request.match_info["id"], request.query.get("signal") or "KILL")
    return _no_content()


def _state_conflict_as_500(engine: Engine, action: Callable[..., None], *args: Any) -> None:
    """``action(engine, *args)``, a container in the wrong state for it answered 500 rather than
    dockerd's 409, as podman answers and its compat tests expect. Docker's clients do the same
    with either: docker-py raises ``APIError``, the docker CLI prints the message and exits 1,
    docker-compose reads no status (docs/docker-api.md)."""
    try:
        action(engine, *args)
    except InvalidState as err:
        raise ApiError(500, str(err)) from None


async def pause(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/pause``: 500 if it is not running."""
    from berth.engine.containers.pause import pause_container

    await blocking(request, _state_conflict_as_500, pause_container, request.match_info["id"])
    return _no_content()


async def unpause(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/unpause``."""
    from berth.engine.containers.pause import unpause_container

    await blocking(request, unpause_container, request.match_info["id"])
    return _no_content()


async def remove(request: web.Request) -> web.StreamResponse:
    """``DELETE /containers/{id}?force=&v=``: 500 for a running container without ``force``."""
    from berth.engine.containers.remove import remove_container

    force, volumes = query_bool(request, "force"), query_bool(request, "v")
    await blocking(
        request, _state_conflict_as_500, remove_container, request.match_info["id"], force, volumes
    )
    return _no_content()


#: Docker's container filters the engine's ``ps --filter`` also has; the others are refused.
_FILTERS = ("id", "name", "label", "status", "exited", "ancestor", "network")


def _engine_filters(filters: dict[str, list[str]], default_network: str) -> list[str]:
    texts = []
    for key, values in filters.items():
        if key not in _FILTERS:
            raise ApiError(400, f"invalid filter {key!r}: Berth filters containers by {', '.join(_FILTERS)}")
        for value in values:
            if key == "name":
                # Docker's names start with "/"; the engine's do not
                value = "^" + value[2:] if value.startswith("^/") else value.removeprefix("/")
            if key == "network" and value == "bridge":
                value = default_network  # Docker's name for the engine's default network
            texts.append(f"{key}={value}")
    return texts


def _list(engine: Engine, show_all: bool, limit: int | None, filters: dict[str, list[str]]) -> list[Any]:
    from berth.engine.containers.filters import matches, parse_filters, selects_stopped
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING
    from berth.engine.options import CreateOptions

    wanted = parse_filters(_engine_filters(filters, engine.config.default_network))
    records = [refresh(engine, r) for r in engine.db.containers()]
    if not show_all and not selects_stopped(wanted):
        records = [r for r in records if r.state == RUNNING]
    records = [r for r in records if matches(r, CreateOptions.from_json(r.config["options"]).labels, wanted)]
    if limit is not None and limit > 0:
        records = records[:limit]
    return [container_view.summary(r, engine.config.default_network) for r in records]


async def list_containers(request: web.Request) -> web.StreamResponse:
    """``GET /containers/json?all=&limit=&filters=``."""
    show_all = query_bool(request, "all")
    limit = query_int(request, "limit")
    filters = query_filters(request)
    return json_response(await blocking(request, _list, show_all, limit, filters))


def _inspect(engine: Engine, ref: str) -> dict[str, Any]:
    from berth.engine.containers.health import read_health
    from berth.engine.containers.state import refresh

    record = refresh(engine, engine.db.container(ref))
    log = str(engine.paths(record.id).log)
    return container_view.inspect(record, read_health(engine, record), log, engine.config.default_network)


async def inspect(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/json``."""
    return json_response(await blocking(request, _inspect, request.match_info["id"]))


def _top(engine: Engine, ref: str) -> dict[str, Any]:
    from berth.engine.containers.observe import top

    headers, rows = top(engine, ref)
    return {"Titles": headers, "Processes": [[str(cell) for cell in row] for row in rows]}


async def top(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/top`` (``ps_args`` is not supported: the engine's columns)."""
    return json_response(await blocking(request, _top, request.match_info["id"]))


#: Docker's change kinds: 0 modified, 1 added, 2 deleted.
_CHANGE_KINDS = {"C": 0, "A": 1, "D": 2}


def _changes(engine: Engine, ref: str) -> list[dict[str, Any]]:
    from berth.engine.containers.filesystem import container_changes

    return [{"Path": path, "Kind": _CHANGE_KINDS[kind]} for kind, path in container_changes(engine, ref)]


async def changes(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/changes``."""
    return json_response(await blocking(request, _changes, request.match_info["id"]))


async def rename(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/rename?name=``."""
    from berth.engine.containers.rename import rename_container

    name = request.query.get("name", "")
    if not name:
        raise ApiError(400, "no new name given: the name query parameter is required")
    await blocking(request, rename_container, request.match_info["id"], name)
    return _no_content()


async def update(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/update``: Memory, NanoCpus, PidsLimit, CpuShares, CpusetCpus and
    CpusetMems (what the engine can change in a running container)."""
    from berth.engine.containers.update import update_container

    body = Fields(await read_json(request, {}), "")
    memory, nano_cpus, pids = body.number("Memory"), body.number("NanoCpus"), body.number("PidsLimit")
    shares = body.number("CpuShares")
    await blocking(
        request,
        update_container,
        request.match_info["id"],
        str(memory) if memory > 0 else "",
        str(nano_cpus / 1e9) if nano_cpus > 0 else "",
        pids if pids > 0 else 0,
        shares if shares > 0 else 0,
        body.text("CpusetCpus"),
        body.text("CpusetMems"),
    )
    return json_response({"Warnings": []})


def _prune(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    from berth.engine.containers.remove import remove_container
    from berth.engine.containers.state import refresh
    from berth.engine.options import CreateOptions

    if set(filters) - {"label"}:
        raise ApiError(400, "invalid filter: Berth prunes containers by label only")
    from berth.engine.containers.filters import matches, parse_filters
    from berth.engine.system import tree_size

    wanted = parse_filters(_engine_filters(filters, engine.config.default_network))
    deleted, reclaimed = [], 0
    for record in (refresh(engine, r) for r in engine.db.containers()):
        if record.state in ACTIVE:
            continue
        if not matches(record, CreateOptions.from_json(record.config["options"]).labels, wanted):
            continue
        size = tree_size(engine.paths(record.id).userdata)  # its files, as system df counts them
        try:
            remove_container(engine, record.id, spare_restarting=True)
        except (NotFound, InvalidState):
            continue  # removed, started or restarting meanwhile
        deleted.append(record.id)
        reclaimed += size
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


async def prune(request: web.Request) -> web.StreamResponse:
    """``POST /containers/prune?filters=``: stopped containers."""
    return json_response(await blocking(request, _prune, query_filters(request)))


def register(router: Router) -> None:
    """Add the container endpoints."""
    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("DELETE", "/containers/{id}", remove)
    router.add("GET", "/containers/{id}/top", top)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("POST", "/containers/{id}/update", update)
    container_streams.register(router)
