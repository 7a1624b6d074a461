"""Running the registry: listen (optionally TLS), clean abandoned uploads hourly, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys

from aiohttp import web

from berth.distribution.server.app import REGISTRY_KEY, make_app
from berth.distribution.server.config import RegistryConfig
from berth.distribution.server.metrics import METRICS_KEY, access_logger
from berth.distribution.storage.gc import clean_uploads

_CLEANUP_INTERVAL = 3600.0


def tls_context(config: RegistryConfig) -> ssl.SSLContext | None:
    """A server TLS context from ``--tls-cert``/``--tls-key``, or None for plain HTTP."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def _clean_periodically(app: web.Application, max_age: float) -> None:
    store = app[REGISTRY_KEY].store
    while True:
        await asyncio.sleep(_CLEANUP_INTERVAL)
        with contextlib.suppress(OSError):
            await clean_uploads(store, max_age)


async def run(config: RegistryConfig, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    app = make_app(config)
    runner = web.AppRunner(
        app,
        access_log_class=access_logger(app[METRICS_KEY]),
        access_log=logging.getLogger("berth.registry.access"),
    )
    await runner.setup()
    host, port = config.host_port
    site = web.TCPSite(runner, host, port, ssl_context=tls_context(config), backlog=1024)
    await site.start()
    scheme = "https" if config.tls_cert else "http"
    print(f"berth registry listening on {scheme}://{config.addr}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    cleaner = asyncio.create_task(_clean_periodically(app, config.upload_max_age))
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        cleaner.cancel()
        await runner.cleanup()


def serve(config: RegistryConfig) -> None:
    """Run the registry in this process until it is told to stop."""
    asyncio.run(run(config))
