"""``POST /build`` (engine API v1.44, Image): a tar context in the body built by Berth's builder (what
``berth build`` runs, in a process of its own: ``berth.dockerapi.build_worker``), answered with
dockerd's build stream: JSON lines of ``stream`` text (the steps and RUN's output), an ``aux``
object with the image ID, and ``errorDetail`` when the build fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from berth.dockerapi.app import Router, blocking, query_bool, query_object
from berth.dockerapi.errors import ApiError
from berth.dockerapi.image_transfer import Emit, stream_json_lines
from berth.engine.engine import Engine
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.build.containerfile import Containerfile

#: The name the docker CLI and docker-py give a Dockerfile from outside the context when they add
#: it to the context's tarball: only the build reads it, COPY and ADD must not see it.
_ADDED_DOCKERFILE = ".dockerfile."


@dataclass
class BuildQuery:
    """The query parameters of ``POST /build`` that Berth acts on."""

    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: str = "missing"
    quiet: bool = False
    network: str = ""
    extra_hosts: list[str] = field(default_factory=list)


def _json_map(request: web.Request, name: str) -> dict[str, str]:
    """The query parameter ``name``: a JSON object of strings (a null value is left out)."""
    data = query_object(request, name)
    if not all(isinstance(v, str | None) for v in data.values()):
        raise ApiError(400, f"invalid {name} {request.query[name]!r}: want a JSON object of strings")
    return {k: v for k, v in data.items() if v is not None}


def _pull_policy(request: web.Request) -> str:
    """``pull``: a boolean (always, or only what is missing) or a policy's name."""
    text = request.query.get("pull", "")
    if text in ("always", "missing", "never"):
        return text
    return "always" if query_bool(request, "pull") else "missing"


def _refuse_unsupported(request: web.Request) -> None:
    if request.query.get("remote"):
        raise ApiError(400, "remote build contexts are not supported by Berth: send a tar body")
    if query_bool(request, "squash"):
        raise ApiError(501, "squash is not supported by Berth's builder")
    platform = request.query.get("platform", "")
    if platform not in ("", "linux", "linux/amd64"):
        raise ApiError(400, f"invalid platform {platform!r}: Berth builds for this host (linux/amd64) only")


def parse_build_query(request: web.Request) -> BuildQuery:
    """The build's parameters from the request; a 400 naming the first bad one."""
    _refuse_unsupported(request)
    network = request.query.get("networkmode", "")
    return BuildQuery(
        dockerfile=request.query.get("dockerfile", "") or "Dockerfile",
        tags=[t for t in request.query.getall("t", []) if t],
        build_args=_json_map(request, "buildargs"),
        labels=_json_map(request, "labels"),
        target=request.query.get("target") or None,
        no_cache=query_bool(request, "nocache"),
        pull=_pull_policy(request),
        quiet=query_bool(request, "q"),
        network="" if network in ("default", "bridge") else network,
        # docker-py repeats the parameter; dockerd also takes them comma-separated
        extra_hosts=[h for text in request.query.getall("extrahosts", []) for h in text.split(",") if h],
    )


def _open_context(archive: Path, root: Path, dockerfile: str) -> tuple[Containerfile, str]:
    """The context in ``archive`` unpacked into ``root``; its Dockerfile parsed, and its text."""
    from berth.build.containerfile import parse_containerfile
    from berth.build.context import context_from_archive

    rel = context_from_archive(archive, root).confine(dockerfile)
    # dockerd's fallback for the default name; Berth's own default name too
    candidates = [rel] if rel != "Dockerfile" else [rel, "dockerfile", "Containerfile"]
    for name in candidates:
        path = root / name
        if path.is_file():
            text = path.read_bytes().decode(errors="surrogateescape")
            if name.startswith(_ADDED_DOCKERFILE):
                path.unlink()
            return parse_containerfile(text, name), text
    raise ApiError(400, f"Cannot locate specified Dockerfile: {dockerfile}")


def _build_in_worker(
    engine: Engine,
    root: Path,
    cf: Containerfile,
    text: str,
    query: BuildQuery,
    emit: Emit,
    stop: threading.Event,
) -> None:
    """Run the build in a process of its own (``berth.dockerapi.build_worker``) and pass on the
    lines it writes. Not in this threaded service: a RUN's container monitor is forked from the
    process that starts it, and a fork copies a lock (SQLite's allocator's, say) that another
    thread held at that instant, locked for ever. A client that leaves stops the build."""
    import dataclasses

    from berth.spec.records import as_dict

    job = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in as_dict(engine.config).items()},
        "context": str(root),
        "dockerfile": cf.filename,
        "text": text,
        "query": dataclasses.asdict(query),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "berth.dockerapi.build_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        with worker.stdin:
            worker.stdin.write(json.dumps(job).encode())
        for line in worker.stdout:
            if stop.is_set():
                break
            emit(json.loads(line))
    finally:
        if worker.poll() is None and stop.is_set():
            worker.terminate()  # its builder removes what it made as it unwinds
        worker.stdout.close()
        worker.wait()
    if worker.returncode != 0 and not stop.is_set():
        raise BerthError(f"the build ended unexpectedly (status {worker.returncode}); see the service's log")


async def build(request: web.Request) -> web.StreamResponse:
    """``POST /build``: the body a tar context (maybe gzip-compressed); the answer the build
    stream. A bad parameter, context or Dockerfile is a 400 before the stream starts."""
    from berth.dockerapi.images import spool_body, spool_dir

    query = parse_build_query(request)
    workdir = Path(await blocking(request, spool_dir))
    try:
        archive = await spool_body(request, workdir)
        root = workdir / "context"
        root.mkdir()
        try:
            cf, text = await blocking(request, lambda _engine: _open_context(archive, root, query.dockerfile))
        except BerthError as err:
            raise ApiError(400, str(err)) from None
        archive.unlink()  # unpacked: its room is given back before the build
        return await stream_json_lines(
            request, lambda engine, emit, stop: _build_in_worker(engine, root, cf, text, query, emit, stop)
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def register(router: Router) -> None:
    """Add the build endpoint."""
    router.add("POST", "/build", build)
