"""Docker's stream formats: the multiplexed frames of logs and attach (engine API, "Attach to a
container": an 8-byte header ``[stream, 0, 0, 0, size (uint32, big-endian)]`` then the payload),
raw TTY streams, and the hijacked connection (``Upgrade: tcp``, ``101 UPGRADED``)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, cast

from aiohttp import web

STDIN, STDOUT, STDERR = 0, 1, 2
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame of ``data`` from ``stream``."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def stream_type(tty: bool, version: tuple[int, int]) -> str:
    """The content type of a container's output: raw with a TTY (one stream), else multiplexed
    (named so from API 1.42; older clients get the raw-stream name for both, as dockerd does)."""
    return RAW_STREAM if tty or version < (1, 42) else MULTIPLEXED_STREAM


class _ClientInput:
    """Receives what the client sends on a hijacked connection (aiohttp's payload parser seam)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class _HalfCloseKeeper(asyncio.Protocol):
    """aiohttp's protocol, except at the client's half-close (docker's CloseWrite when its stdin
    ends): that ends the client's input only, and the connection stays open for the output still
    to come (aiohttp would close it)."""

    def __init__(self, inner: Any, client_input: _ClientInput) -> None:
        self.inner = inner
        self.client_input = client_input

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool:
        self.client_input.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Hijacked:
    """A connection taken over for a raw stream in both directions."""

    def __init__(self, response: web.StreamResponse, client_input: _ClientInput | None) -> None:
        self.response = response
        self._input = client_input

    async def send(self, data: bytes) -> None:
        """Write ``data`` to the client (raises ``ConnectionResetError`` once it is gone)."""
        await self.response.write(data)

    async def receive(self) -> bytes:
        """The next bytes from the client; ``b""`` when it closed its side (or sends nothing)."""
        if self._input is None:
            return b""
        return await self._input.queue.get()

    async def close(self) -> None:
        """End the stream (the connection closes with it)."""
        with contextlib.suppress(ConnectionError):
            await self.response.write_eof()


async def hijack(request: web.Request, content_type: str) -> Hijacked:
    """Take over the request's connection. A client asking for ``Upgrade: tcp`` gets ``101
    UPGRADED`` and a raw connection whose half-close ends only its input; others get a 200 whose
    body is the stream (and no input)."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    response = web.StreamResponse(status=101 if upgrade else 200, reason="UPGRADED" if upgrade else None)
    response.content_type = content_type
    response.force_close()
    client_input = None
    if upgrade:
        response.headers["Connection"] = "Upgrade"
        response.headers["Upgrade"] = "tcp"
        client_input = _ClientInput()
        protocol = cast(Any, request.protocol)
        # aiohttp hands an upgraded connection's bytes to a payload parser, as for websockets.
        protocol.set_parser(client_input)
        if request.transport is not None:
            request.transport.set_protocol(_HalfCloseKeeper(protocol, client_input))
    await response.prepare(request)
    return Hijacked(response, client_input)


class ResponseWriter:
    """A file-like ``write`` for code in a worker thread (a tar writer, the engine's export) onto
    a prepared response; each write waits until the event loop has sent it (back-pressure)."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.response = response
        self.loop = loop

    def write(self, data: bytes) -> int:
        """Send ``data``; raises once the client has gone."""
        asyncio.run_coroutine_threadsafe(self.response.write(bytes(data)), self.loop).result()
        return len(data)
