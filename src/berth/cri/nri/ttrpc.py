"""ttrpc over NRI's multiplexed connection: the framing both layers define, unary calls each way.

NRI runs two ttrpc connections over one unix socket (containerd/nri pkg/net/multiplex): the trunk
carries frames of a 4-byte channel id and a 4-byte payload length, both big-endian, then the
payload; channel 1 carries the plugin's service (the runtime is its client), channel 2 the
runtime's (the plugin is its client). On each channel flows a byte stream of ttrpc messages
(containerd/ttrpc PROTOCOL.md): a 10-byte header (payload length and stream id, big-endian 32-bit;
message type; flags), then the payload, a ``ttrpc.Request`` or ``ttrpc.Response``. A client's
streams have odd ids; a unary call is one request and one response on its stream.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
from collections.abc import Callable

from berth.cri.proto import ttrpc_pb2
from berth.errors import BerthError

#: The multiplexer's channels (containerd/nri pkg/net/multiplex ttrpc.go).
PLUGIN_CHANNEL = 1
RUNTIME_CHANNEL = 2
_FRAME = struct.Struct(">II")
_MESSAGE = struct.Struct(">IIBB")
_REQUEST, _RESPONSE = 1, 2
#: ttrpc's largest message payload; a frame holds at most a header and one such payload.
MAX_MESSAGE = 4 << 20
_MAX_FRAME = _MESSAGE.size + MAX_MESSAGE
#: gRPC status codes ttrpc's responses carry.
UNIMPLEMENTED = 12

#: Serves one request: (method, payload) -> reply payload; raises ``CallFailed`` for an error status.
Handler = Callable[[str, bytes], bytes]


class CallFailed(BerthError):
    """The peer answered a call with an error status."""


class Unanswered(CallFailed):
    """The peer did not answer a call in time, or its connection closed."""


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: ttrpc_pb2.Response | None = None


class Peer:
    """One end of an NRI connection: calls the service on ``call_channel``, serves requests that
    arrive on ``serve_channel`` with ``handler`` (in the reading thread: it must not block)."""

    def __init__(self, sock: socket.socket, call_channel: int, serve_channel: int, handler: Handler) -> None:
        self._sock = sock
        self._call_channel, self._serve_channel, self._handler = call_channel, serve_channel, handler
        self._write_lock = threading.Lock()
        self._streams = itertools.count(1, 2)  # a client's stream ids are odd
        self._pending: dict[int, _Waiter] = {}
        self._pending_lock = threading.Lock()
        self.closed = threading.Event()

    def call(self, service: str, method: str, payload: bytes, timeout: float) -> bytes:
        """A unary call of ``service``/``method``; the reply's payload. ``CallFailed`` for an error
        status, a timeout or a closed connection."""
        waiter = _Waiter()
        with self._pending_lock:
            stream = next(self._streams)
            self._pending[stream] = waiter
        request = ttrpc_pb2.Request(
            service=service, method=method, payload=payload, timeout_nano=int(timeout * 1e9)
        )
        try:
            self._send(self._call_channel, stream, _REQUEST, request.SerializeToString())
            if not waiter.done.wait(timeout):
                raise Unanswered(f"{method}: no answer in {timeout:g} s")
        finally:
            with self._pending_lock:
                self._pending.pop(stream, None)
        response = waiter.response
        if response is None:
            raise Unanswered(f"{method}: the connection closed")
        if response.status.code != 0:
            raise CallFailed(f"{method}: {response.status.message or f'status {response.status.code}'}")
        return response.payload

    def serve(self) -> None:
        """Read the trunk until it ends, answering requests and completing calls; then fail the
        calls still waiting and mark the peer closed."""
        buffers: dict[int, bytearray] = {}
        try:
            while header := _read_exactly(self._sock, _FRAME.size):
                channel, length = _FRAME.unpack(header)
                if length > _MAX_FRAME:
                    break  # not NRI's multiplexer: drop the connection
                payload = _read_exactly(self._sock, length)
                if length and not payload:
                    break
                buffer = buffers.setdefault(channel, bytearray())
                buffer += payload
                self._take_messages(channel, buffer)
        except OSError:
            pass  # the connection broke: the same as its end
        finally:
            self.closed.set()
            with self._pending_lock:
                waiting = list(self._pending.values())
            for waiter in waiting:
                waiter.done.set()

    def close(self) -> None:
        """Shut the connection down (``serve`` then returns)."""
        with contextlib.suppress(OSError):  # not connected any more
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _take_messages(self, channel: int, buffer: bytearray) -> None:
        """Handle every complete ttrpc message at the start of ``buffer`` (and drop it from there)."""
        while len(buffer) >= _MESSAGE.size:
            length, stream, kind, _flags = _MESSAGE.unpack_from(buffer)
            if len(buffer) < _MESSAGE.size + length:
                return
            payload = bytes(buffer[_MESSAGE.size : _MESSAGE.size + length])
            del buffer[: _MESSAGE.size + length]
            if channel == self._call_channel and kind == _RESPONSE:
                self._complete(stream, ttrpc_pb2.Response.FromString(payload))
            elif channel == self._serve_channel and kind == _REQUEST:
                self._answer(stream, ttrpc_pb2.Request.FromString(payload))

    def _complete(self, stream: int, response: ttrpc_pb2.Response) -> None:
        with self._pending_lock:
            waiter = self._pending.get(stream)
        if waiter is not None:
            waiter.response = response
            waiter.done.set()

    def _answer(self, stream: int, request: ttrpc_pb2.Request) -> None:
        try:
            reply = ttrpc_pb2.Response(payload=self._handler(request.method, request.payload))
        except CallFailed as err:
            reply = ttrpc_pb2.Response(status=ttrpc_pb2.Status(code=UNIMPLEMENTED, message=str(err)))
        self._send(self._serve_channel, stream, _RESPONSE, reply.SerializeToString())

    def _send(self, channel: int, stream: int, kind: int, payload: bytes) -> None:
        if len(payload) > MAX_MESSAGE:
            raise CallFailed(f"a ttrpc message of {len(payload)} bytes is over the {MAX_MESSAGE} limit")
        message = _MESSAGE.pack(len(payload), stream, kind, 0) + payload
        with self._write_lock:
            try:
                self._sock.sendall(_FRAME.pack(channel, len(message)) + message)
            except OSError as err:
                raise Unanswered(f"the connection failed: {err.strerror}") from None


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes, or b"" if the connection ended first."""
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return b""
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
