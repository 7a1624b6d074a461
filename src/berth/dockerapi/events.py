"""``GET /events`` (engine API v1.44, System): the engine's event log (``berth.events``) as
Docker's event objects, streamed, with Docker's filters and ``since``/``until``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from berth.dockerapi.app import Router, iterate_in_thread, query_filters, send_all
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine

#: Berth's (podman's) status words that Docker names otherwise, by event type.
_ACTIONS = {
    "container": {"died": "die", "remove": "destroy", "exec": "exec_start", "exec_died": "exec_die"},
    "image": {"remove": "delete", "loadfromarchive": "load"},
    "network": {"remove": "destroy"},
    "volume": {"remove": "destroy"},
}
_FILTER_KEYS = ("container", "event", "image", "label", "type", "volume", "network")


def docker_event(event: dict[str, Any]) -> dict[str, Any]:
    """One of the engine's events in Docker's shape (``Type``, ``Action``, ``Actor``, times, and
    for containers the older ``status``/``id``/``from``)."""
    from berth.events import parse_time

    kind = str(event.get("Type", ""))
    status = str(event.get("Status", ""))
    action = _ACTIONS.get(kind, {}).get(status, status)
    at = parse_time(str(event.get("Time", ""))) if event.get("Time") else 0.0
    attributes: dict[str, str] = {k: str(v) for k, v in (event.get("Attributes") or {}).items()}
    name = str(event.get("Name", ""))
    actor_id = str(event.get("ID") or name)
    if kind == "container":
        attributes.update(image=str(event.get("Image", "")), name=name)
        if event.get("ContainerExitCode") is not None:
            attributes["exitCode"] = str(event["ContainerExitCode"])
    elif kind == "image":
        attributes["name"] = name
        actor_id = name or actor_id
    elif kind == "network":
        attributes.update(name=name, type="bridge")
    elif kind == "volume":
        attributes["driver"] = "local"
        actor_id = name
    doc: dict[str, Any] = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": attributes},
        "scope": "local",
        "time": int(at),
        "timeNano": int(at * 1e9),
    }
    if kind == "container":
        doc.update(status=action, id=actor_id, **{"from": attributes["image"]})
    return doc


def _matches(doc: dict[str, Any], key: str, value: str) -> bool:
    attributes = doc["Actor"]["Attributes"]
    if key == "event":
        return bool(doc["Action"] == value)
    if key == "type":
        return bool(doc["Type"] == value)
    if key == "label":
        name, eq, wanted = value.partition("=")
        return name in attributes and (not eq or attributes[name] == wanted)
    if key == "image":
        image = attributes.get("image", "") if doc["Type"] == "container" else attributes.get("name", "")
        return bool(image == value or image.startswith(value + ":") or doc["Actor"]["ID"] == value)
    if doc["Type"] != key:
        return False
    return bool(attributes.get("name") == value or str(doc["Actor"]["ID"]).startswith(value))


def _moment(text: str, name: str, now: float) -> float | None:
    from berth.events import parse_moment

    if not text:
        return None
    try:
        return parse_moment(text, now)
    except ValueError:
        raise ApiError(400, f"invalid {name} {text!r}: want Unix seconds or an RFC 3339 time") from None


def _events(
    engine: Engine,
    since: float | None,
    until: float | None,
    filters: dict[str, list[str]],
    stop: threading.Event,
) -> Iterator[dict[str, Any]]:
    from berth.events import follow_events, log_path, parse_time, read_events

    start = time.time() if since is None else since
    log = log_path(engine.config.root)
    engine.close()
    follow = until is None or until > time.time()
    events = follow_events(log, deadline=until, cancelled=stop.is_set) if follow else read_events(log)
    for event in events:
        at = parse_time(str(event.get("Time", ""))) if event.get("Time") else 0.0
        if at < start or (until is not None and at > until):
            continue
        doc = docker_event(event)
        if all(any(_matches(doc, key, v) for v in values) for key, values in filters.items()):
            yield doc


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events?since=&until=&filters=``: without ``since``, events from now on; without
    ``until`` (or one still to come), streamed until the client leaves."""
    now = time.time()
    since = _moment(request.query.get("since", ""), "since", now)
    until = _moment(request.query.get("until", ""), "until", now)
    filters = query_filters(request)
    for key in filters:
        if key not in _FILTER_KEYS:
            raise ApiError(400, f"invalid filter {key!r}: want one of {', '.join(_FILTER_KEYS)}")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    docs = iterate_in_thread(request, lambda engine, stop: _events(engine, since, until, filters, stop))
    return await send_all(response, (json.dumps(doc).encode() + b"\n" async for doc in docs))


def register(router: Router) -> None:
    """Add the events endpoint."""
    router.add("GET", "/events", events)
