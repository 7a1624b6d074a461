"""The Docker API's build, run in a process of its own (``python -m berth.dockerapi.build_worker``).

It reads the job from stdin (the engine's configuration, the unpacked context, the Dockerfile's name
and text, the query) and writes dockerd's build stream to stdout, one JSON object a line: the
steps and RUN's output (its stderr in red, as dockerd marks it), the ``aux`` object with the image
ID, and ``errorDetail`` when the build fails. ``berth.dockerapi.build`` runs it and relays it.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from berth.dockerapi.build import BuildQuery
from berth.engine.config import EngineConfig
from berth.engine.engine import Engine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.build.containerfile import Containerfile
    from berth.build.context import BuildContext
    from berth.dockerapi.image_transfer import Emit

#: dockerd's marks around a RUN's stderr in the build stream (red, then reset).
_STDERR_START, _STDERR_END = "\x1b[91m", "\x1b[0m"


def run_build(engine: Engine, ctx: BuildContext, cf: Containerfile, query: BuildQuery, emit: Emit) -> None:
    """Build ``cf`` in ``ctx`` as ``query`` asks, emitting dockerd's build stream."""
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


def _config(data: dict[str, Any]) -> EngineConfig:
    """The engine configuration the service sent (paths as strings, tuples as lists)."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        values[key] = (
            Path(value) if key in ("root", "runroot") else tuple(value) if isinstance(value, list) else value
        )
    return EngineConfig(**values)


def main() -> int:
    """Run the job on stdin; the stream on stdout."""
    from berth.build.containerfile import parse_containerfile
    from berth.build.context import BuildContext
    from berth.build.ignore import IgnoreRules

    # SIGTERM (the client left) unwinds the builder, which removes its containers and snapshots
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    job = json.loads(sys.stdin.read())
    root = Path(job["context"])
    ctx = BuildContext(root, IgnoreRules.read(root))
    cf = parse_containerfile(job["text"], job["dockerfile"])

    def emit(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    with Engine(_config(job["config"])) as engine:
        run_build(engine, ctx, cf, BuildQuery(**job["query"]), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
