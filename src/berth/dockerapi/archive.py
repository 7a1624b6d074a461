"""``/containers/{id}/archive`` (engine API v1.44, Container): a path of a container's filesystem
as a tar (GET), its stat alone (HEAD), and a tar extracted into a directory (PUT), which is what
``docker cp`` speaks. The stat travels base64-encoded in ``X-Docker-Container-Path-Stat``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import stat
import tarfile
import time
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from berth.dockerapi.app import Router, blocking, query_bool
from berth.dockerapi.errors import ApiError
from berth.dockerapi.streams import ResponseWriter
from berth.engine.engine import Engine

#: Go's os.FileMode type bits, which Docker's path stat carries.
_GO_MODE_BITS = (
    (stat.S_ISDIR, 1 << 31),
    (stat.S_ISLNK, 1 << 27),
    (stat.S_ISFIFO, 1 << 25),
    (stat.S_ISSOCK, 1 << 24),
    (stat.S_ISCHR, (1 << 26) | (1 << 21)),
    (stat.S_ISBLK, 1 << 26),
)


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise ApiError(400, "no path given: the path query parameter is required")
    return path


def _host_path(engine: Engine, ref: str, path: str) -> Path:
    from berth.engine.containers.copy import path_in_container

    host = path_in_container(engine, ref, path)
    if not os.path.lexists(host):
        raise ApiError(404, f"Could not find the file {path} in container {ref}")
    return host


def _stat(host: Path, path: str) -> dict[str, Any]:
    info = os.lstat(host)
    mode = stat.S_IMODE(info.st_mode)
    for test, bit in _GO_MODE_BITS:
        if test(info.st_mode):
            mode |= bit
    return {
        "name": os.path.basename(path.rstrip("/")) or "/",
        "size": info.st_size,
        "mode": mode,
        "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.st_mtime)),
        "linkTarget": os.readlink(host) if stat.S_ISLNK(info.st_mode) else "",
    }


def _stat_header(engine: Engine, ref: str, path: str) -> tuple[Path, str]:
    host = _host_path(engine, ref, path)
    encoded = base64.b64encode(json.dumps(_stat(host, path)).encode()).decode()
    return host, encoded


async def head(request: web.Request) -> web.StreamResponse:
    """``HEAD /containers/{id}/archive?path=``: the path's stat."""
    _, encoded = await blocking(request, _stat_header, request.match_info["id"], _path(request))
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": encoded})


def _write_tar(_engine: Engine, host: Path, name: str, out: ResponseWriter) -> None:
    # Symlinks are archived as links, never followed (the tree is the container's).
    # A stream ("w|") needs only write(); the stubs ask for a whole file object.
    with tarfile.open(fileobj=cast(Any, out), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(host), arcname=name, recursive=True)


async def get(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/archive?path=``: the path (a file, or a directory and all below it)
    as a tar whose top entry is its base name."""
    path = _path(request)
    host, encoded = await blocking(request, _stat_header, request.match_info["id"], path)
    response = web.StreamResponse(
        headers={"Content-Type": "application/x-tar", "X-Docker-Container-Path-Stat": encoded}
    )
    await response.prepare(request)
    name = os.path.basename(path.rstrip("/")) or "."
    writer = ResponseWriter(response, asyncio.get_running_loop())
    with contextlib.suppress(ConnectionResetError):  # the client went away
        await blocking(request, _write_tar, host, name, writer, watch=True)
        await response.write_eof()
    return response


def _extract(engine: Engine, ref: str, path: str, archive: Path) -> None:
    from berth.image.layers import apply_layer
    from berth.image.layers.errors import InvalidLayer

    host = _host_path(engine, ref, path)
    if not host.is_dir():
        raise ApiError(400, f"extraction point {path} is not a directory")
    with open(archive, "rb") as body:
        # The layer applier confines every entry to the directory (no path or link reaches out).
        try:
            apply_layer(body, host)
        except InvalidLayer as err:
            raise ApiError(400, f"cannot extract the archive into {path}: {err}") from None


async def put(request: web.Request) -> web.StreamResponse:
    """``PUT /containers/{id}/archive?path=``: extract the body, a tar, into the directory."""
    from berth.dockerapi.images import spool_body, spool_dir

    path = _path(request)
    if query_bool(request, "copyUIDGID"):
        raise ApiError(400, "copyUIDGID is not supported: entries keep the owners in the archive")
    workdir = Path(await blocking(request, spool_dir))
    try:
        archive = await spool_body(request, workdir)
        await blocking(request, _extract, request.match_info["id"], path, archive)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return web.Response(status=200)


def register(router: Router) -> None:
    """Add the archive endpoints."""
    router.add("HEAD", "/containers/{id}/archive", head)
    router.add("GET", "/containers/{id}/archive", get)
    router.add("PUT", "/containers/{id}/archive", put)
