"""``berth system service``: listen on a unix socket or 127.0.0.1, serve until told to stop or,
with ``--time``, until idle that long."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from berth.dockerapi.app import ACTIVITY_KEY, make_app
from berth.engine.config import EngineConfig
from berth.errors import AlreadyExists, InvalidArgument

#: The modules the handlers call into. Imported before serving: the engine forks a container's
#: monitor from a worker thread, and a fork while another thread held the import lock would leave
#: the monitor unable to import anything.
_ENGINE_MODULES = (
    "berth.dockerapi.system",
    "berth.dockerapi.containers",
    "berth.dockerapi.execs",
    "berth.dockerapi.archive",
    "berth.dockerapi.events",
    "berth.events",
    "berth.engine.containers.copy",
    "berth.image.layers",
    "berth.dockerapi.networks",
    "berth.dockerapi.images",
    "berth.dockerapi.image_transfer",
    "berth.distribution.transports",
    "berth.distribution.archive",
    "berth.engine.images.manage",
    "berth.image.importer",
    "berth.dockerapi.volumes",
    "berth.dockerapi.build",
    "berth.dockerapi.commit",
    "berth.engine.containers.commit",
    "berth.image.commit",
    "berth.build.containerfile",
    "berth.build.context",
    "berth.engine.volumes.local",
    "berth.engine.containers.execute",
    "berth.engine.system",
    "berth.engine.containers.attach",
    "berth.engine.containers.cleanup",
    "berth.engine.containers.create",
    "berth.engine.containers.filesystem",
    "berth.engine.containers.inspect",
    "berth.engine.containers.observe",
    "berth.engine.containers.pause",
    "berth.engine.containers.remove",
    "berth.engine.containers.rename",
    "berth.engine.containers.restart",
    "berth.engine.containers.start",
    "berth.engine.containers.stop",
    "berth.engine.containers.update",
    "berth.engine.networks.bridge",
    "berth.engine.networks.cni",
    "berth.engine.networks.netns",
    "berth.image.catalog",
    "berth.image.images",
)


def parse_uri(uri: str, config: EngineConfig) -> tuple[str, str | int]:
    """``("unix", PATH)`` or ``("tcp", PORT)`` from ``unix:///PATH`` or ``tcp:127.0.0.1:PORT`` (also
    ``tcp://``); empty: the socket in the run root (``/run/berth/berth.sock`` by default). TCP is
    served on the loopback address only: the API has no authentication."""
    if not uri:
        return "unix", str(config.runroot / "berth.sock")
    scheme, _, rest = uri.partition(":")
    rest = rest.removeprefix("//")
    if scheme == "unix" and rest.startswith("/"):
        return "unix", rest
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        if host not in ("127.0.0.1", "localhost") or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(
                f"invalid service address {uri!r}: want tcp:127.0.0.1:PORT (the API has no authentication)"
            )
        return "tcp", int(port)
    raise InvalidArgument(f"invalid service address {uri!r}: want unix:///PATH or tcp:127.0.0.1:PORT")


def _claim_socket(path: Path) -> None:
    """Remove a stale socket at ``path``; refuse if a service answers there."""
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: a service that died left it
        return
    finally:
        probe.close()
    raise AlreadyExists(f"a service already listens on {path}")


async def _until_idle(app: web.Application, idle_seconds: float, stop: asyncio.Event) -> None:
    activity = app[ACTIVITY_KEY]
    while not stop.is_set():
        idle = activity.idle_for()
        if idle >= idle_seconds:
            stop.set()
            return
        await asyncio.sleep(max(0.1, idle_seconds - idle))


async def run(
    config: EngineConfig, uri: str, idle_seconds: float, ready: asyncio.Event | None = None
) -> None:
    """Serve the API at ``uri`` until SIGTERM or SIGINT, or ``idle_seconds`` without a request
    (0: never)."""
    from berth.dockerapi import (
        archive,
        build,
        commit,
        containers,
        events,
        execs,
        image_transfer,
        images,
        networks,
        swarm,
        system,
        volumes,
    )

    kind, where = parse_uri(uri, config)
    for name in _ENGINE_MODULES:
        importlib.import_module(name)
    if kind == "unix":
        _claim_socket(Path(str(where)))  # before anything is made: a refusal leaves nothing to undo
    app = make_app(
        config,
        [
            system.register,
            events.register,
            containers.register,
            archive.register,
            execs.register,
            image_transfer.register,
            images.register,
            networks.register,
            volumes.register,
            build.register,
            commit.register,
            swarm.register,
        ],
    )
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site: web.BaseSite
    if kind == "unix":
        site = web.UnixSite(runner, str(where))
    else:
        site = web.TCPSite(runner, "127.0.0.1", int(where))
    try:
        await site.start()
        if kind == "unix":
            os.chmod(str(where), 0o660)
        print(f"berth API service listening on {kind}:{where}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        timer = asyncio.create_task(_until_idle(app, idle_seconds, stop)) if idle_seconds > 0 else None
        if ready is not None:
            ready.set()
        await stop.wait()
        if timer is not None:
            timer.cancel()
    finally:
        await runner.cleanup()
        if kind == "unix":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(where))


def serve(config: EngineConfig, uri: str, idle_seconds: float) -> None:
    """Run the service in this process until it stops."""
    asyncio.run(run(config, uri, idle_seconds))
