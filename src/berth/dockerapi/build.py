"""``POST /build`` (engine API v1.44, Image): a tar context in the body built by Berth's builder (what
``berth build`` runs), answered with dockerd's build stream: JSON lines of ``stream`` text (the
steps and RUN's output, its stderr in red as dockerd marks it), an ``aux`` object with the image ID,
and ``errorDetail`` when the build fails."""

from __future__ import annotations

import shutil
import tempfile
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
    from berth.build.context import BuildContext

#: dockerd's marks around a RUN's stderr in the build stream (red, then reset).
_STDERR_START, _STDERR_END = "\x1b[91m", "\x1b[0m"
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


def _open_context(archive: Path, root: Path, dockerfile: str) -> tuple[BuildContext, Containerfile]:
    """The context in ``archive`` unpacked into ``root``, and its Dockerfile parsed."""
    from berth.build.containerfile import parse_containerfile
    from berth.build.context import context_from_archive

    ctx = context_from_archive(archive, root)
    rel = ctx.confine(dockerfile)
    # dockerd's fallback for the default name; Berth's own default name too
    candidates = [rel] if rel != "Dockerfile" else [rel, "dockerfile", "Containerfile"]
    for name in candidates:
        path = root / name
        if path.is_file():
            text = path.read_bytes()
            if name.startswith(_ADDED_DOCKERFILE):
                path.unlink()
            return ctx, parse_containerfile(text.decode(errors="surrogateescape"), name)
    raise ApiError(400, f"Cannot locate specified Dockerfile: {dockerfile}")


def _build(engine: Engine, ctx: BuildContext, cf: Containerfile, query: BuildQuery, emit: Emit) -> None:
    from berth.build.errors import ContainerfileError
    from berth.build.executor import Builder, BuildOptions
    from berth.engine.containers.monitor import STDERR
    from berth.engine.images.store import images_root
    from berth.image.images import ImageStore

    def output(stream: int, data: bytes) -> None:
        text = data.decode(errors="replace")
        emit({"stream": f"{_STDERR_START}{text}{_STDERR_END}" if stream == STDERR else text})

    opts = BuildOptions(
        containerfile=cf,
        context=ctx,
        tags=query.tags,
        build_args=query.build_args,
        target=query.target,
        pull=query.pull,
        network=query.network,
        add_hosts=query.extra_hosts,
        labels=query.labels,
        no_cache=query.no_cache,
        quiet=query.quiet,
        progress=(lambda _line: None) if query.quiet else (lambda line: emit({"stream": line + "\n"})),
        output=output,
    )
    images = ImageStore(images_root(engine.config))
    try:
        stored = Builder(engine, images, opts).build()
    except ContainerfileError as err:
        if err.run is None:
            emit({"errorDetail": {"message": str(err)}, "error": str(err)})
            return
        # dockerd's words for a failed RUN, which clients match (docker-py's BuildError tests)
        message = f"The command '{' '.join(err.run.argv)}' returned a non-zero code: {err.run.status}"
        emit({"errorDetail": {"message": message, "code": err.run.status}, "error": message})
        return
    finally:
        images.close()
    image_id = f"sha256:{stored.image_id}"
    emit({"aux": {"ID": image_id}})
    if query.quiet:
        emit({"stream": image_id + "\n"})
        return
    emit({"stream": f"Successfully built {stored.image_id[:12]}\n"})
    for tag in query.tags:
        emit({"stream": f"Successfully tagged {tag}\n"})


async def build(request: web.Request) -> web.StreamResponse:
    """``POST /build``: the body a tar context (maybe gzip-compressed); the answer the build
    stream. A bad parameter, context or Dockerfile is a 400 before the stream starts."""
    from berth.dockerapi.images import spool_body, spool_dir

    query = parse_build_query(request)
    workdir = Path(await blocking(request, lambda engine: tempfile.mkdtemp(dir=spool_dir(engine))))
    try:
        archive = await spool_body(request, workdir)
        root = workdir / "context"
        root.mkdir()
        try:
            ctx, cf = await blocking(request, lambda _engine: _open_context(archive, root, query.dockerfile))
        except BerthError as err:
            raise ApiError(400, str(err)) from None
        archive.unlink()  # unpacked: its room is given back before the build
        return await stream_json_lines(request, lambda engine, emit: _build(engine, ctx, cf, query, emit))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def register(router: Router) -> None:
    """Add the build endpoint."""
    router.add("POST", "/build", build)
