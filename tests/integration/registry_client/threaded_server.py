"""A base for the small aiohttp servers of the client tests: served on 127.0.0.1 from a thread.

A subclass sets up its state, builds its routes in ``make_app`` and calls ``super().__init__()``
last; the server answers on ``port`` once that returns, until ``close()`` or the end of a ``with``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web

from tests.integration.registry_client.docker_registry import free_port


class ThreadedServer:
    """Runs ``make_app()`` in a daemon thread with its own event loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def make_app(self) -> web.Application:
        """The application to serve (called in the server's thread)."""
        raise NotImplementedError

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.make_app())
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and end the thread."""
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
