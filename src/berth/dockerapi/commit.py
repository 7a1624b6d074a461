"""``POST /commit`` (engine API v1.44, Image): a container's changes as a new image, through the
engine's commit (what ``berth commit`` runs). The body's container config overrides the image's as
Dockerfile-style changes would."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.dockerapi.app import Router, blocking, json_response, query_bool, read_json
from berth.dockerapi.container_config import Fields
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine


def config_changes(body: Any) -> list[str]:
    """The body's ``Cmd``, ``Entrypoint``, ``Env``, ``Labels``, ``ExposedPorts``, ``WorkingDir``
    and ``User`` as change instructions (``CMD [...]``, ``ENV K=V``, ...)."""
    config = Fields(body, "")
    changes = []
    for key, instruction in (("Cmd", "CMD"), ("Entrypoint", "ENTRYPOINT")):
        command = config.command(key)
        if command is not None:
            changes.append(f"{instruction} {json.dumps(command)}")
    changes += [f"ENV {pair}" for pair in config.strings("Env")]
    changes += [f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in config.labels("Labels").items()]
    changes += [f"EXPOSE {port}" for port in config.mapping("ExposedPorts")]
    for key, instruction in (("WorkingDir", "WORKDIR"), ("User", "USER")):
        if config.text(key):
            changes.append(f"{instruction} {config.text(key)}")
    return changes


def _commit(engine: Engine, ref: str, reference: str | None, changes: list[str], message: str, author: str,
            pause: bool) -> str:  # fmt: skip
    from berth.dockerapi.images import open_store
    from berth.engine.containers.commit import commit_container
    from berth.image.catalog import local_name

    with open_store(engine) as store:
        stored = commit_container(
            engine,
            store,
            ref,
            reference=local_name(reference) if reference else None,
            changes=changes,
            message=message,
            author=author,
            pause=pause,
        )
    return f"sha256:{stored.image_id}"


async def commit(request: web.Request) -> web.StreamResponse:
    """``POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=``: 201 with the new
    image's ``Id``."""
    container = request.query.get("container", "")
    if not container:
        raise ApiError(400, "no container given: the container query parameter is required")
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if tag and not repo:
        raise ApiError(400, "a tag needs a repository (repo)")
    reference = f"{repo}:{tag}" if tag else repo or None
    changes = [*request.query.getall("changes", []), *config_changes(await read_json(request))]
    image_id = await blocking(
        request,
        _commit,
        container,
        reference,
        changes,
        request.query.get("comment", ""),
        request.query.get("author", ""),
        query_bool(request, "pause", True),
    )
    return json_response({"Id": image_id}, status=201)


def register(router: Router) -> None:
    """Add the commit endpoint."""
    router.add("POST", "/commit", commit)
