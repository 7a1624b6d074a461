"""WebSocket beside SPDY: the streaming server's sessions over RFC 6455 connections.

Two protocols ride on it, as client-go speaks them (crictl's ``--transport websocket``):

- exec and attach, ``v5.channel.k8s.io`` (or ``v4``): every binary message starts with its channel
  (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize) and carries that channel's data; in v5 the
  client ends a channel with the message ``255, channel``. The channels are the streams the SPDY
  protocol would open, so the same code serves them (``ChannelSession``).
- port-forward, ``SPDY/3.1+portforward.k8s.io``: the binary messages carry a SPDY/3.1 connection's
  bytes, served by the SPDY session itself (``ByteStream``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import queue
import struct
import threading
from collections.abc import Callable
from io import BufferedIOBase

from berth.cri.streaming.spdy import Stream

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Largest message accepted from a client (a resize or some stdin; port-forward data comes in pieces).
_MAX_MESSAGE = 16 << 20
#: Kubernetes' channel numbers, and v5's "close this channel" marker.
CHANNELS = {"stdin": 0, "stdout": 1, "stderr": 2, "error": 3, "resize": 4}
_CLOSE_CHANNEL = 255
#: The inner protocol each WebSocket sub-protocol carries, best first.
SUBPROTOCOLS = {
    "v5.channel.k8s.io": "v4.channel.k8s.io",
    "v4.channel.k8s.io": "v4.channel.k8s.io",
    "SPDY/3.1+portforward.k8s.io": "portforward.k8s.io",
}


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


class WebSocket:
    """The server's end of an upgraded connection: ``reader`` its buffered input, ``send`` writes."""

    def __init__(self, reader: BufferedIOBase, send: Callable[[bytes], object]) -> None:
        self._reader = reader
        self._send = send
        self._lock = threading.Lock()
        self.closed = False

    def receive(self) -> bytes | None:
        """The next data message (its fragments joined); pings answered on the way. None once the
        client closed or the connection ended."""
        message = b""
        while True:
            frame = self._frame()
            if frame is None:
                return None
            final, opcode, payload = frame
            if opcode == _CLOSE:
                self.close()
                return None
            if opcode == _PING:
                self._write(_PONG, payload)
                continue
            if opcode == _PONG:
                continue
            message += payload
            if len(message) > _MAX_MESSAGE:
                return None
            if final:
                return message

    def send_binary(self, data: bytes) -> None:
        """One binary message."""
        self._write(_BINARY, data)

    def close(self) -> None:
        """Send a close frame (normal closure), once."""
        if not self.closed:
            self.closed = True
            self._write(_CLOSE, struct.pack(">H", 1000))

    def _frame(self) -> tuple[bool, int, bytes] | None:
        head = self._read(2)
        if head is None:
            return None
        final, opcode = bool(head[0] & 0x80), head[0] & 0x0F
        masked, length = bool(head[1] & 0x80), head[1] & 0x7F
        if length >= 126:
            extended = self._read(2 if length == 126 else 8)
            if extended is None:
                return None
            length = int.from_bytes(extended, "big")
        if length > _MAX_MESSAGE:
            return None
        mask = self._read(4) if masked else b"\0\0\0\0"
        payload = self._read(length) if length else b""
        if mask is None or payload is None:
            return None
        if masked:  # a client masks every frame (section 5.3)
            payload = _unmask(payload, mask)
        return final, opcode, payload

    def _read(self, size: int) -> bytes | None:
        data = self._reader.read(size)
        return data if data is not None and len(data) == size else None

    def _write(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            head = struct.pack(">BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            head = struct.pack(">BBH", 0x80 | opcode, 126, length)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 127, length)
        with self._lock, contextlib.suppress(OSError):  # a client gone ends the session by its reader
            self._send(head + payload)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XORed with the repeated 4-byte ``mask`` (as one big integer: fast for MBs)."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


class ChannelSession:
    """Kubernetes' channel protocol on a WebSocket, as a session of streams: one ``Stream`` per
    channel the request has (``names``), all offered at once in ``streams``."""

    def __init__(self, ws: WebSocket, names: set[str], v5: bool) -> None:
        self._ws = ws
        self._v5 = v5
        self.streams: queue.Queue[Stream | None] = queue.Queue()
        self._channels = {
            CHANNELS[name]: Stream(self, CHANNELS[name], {"streamtype": name}) for name in names
        }
        for stream in self._channels.values():
            self.streams.put(stream)

    def serve(self) -> None:
        """Hand each message to its channel until the client goes; then every channel ends."""
        while (message := self._ws.receive()) is not None:
            if not message:
                continue
            if message[0] == _CLOSE_CHANNEL and self._v5 and len(message) > 1:
                ended = self._channels.get(message[1])
                if ended is not None:
                    ended._received(b"")
                continue
            stream = self._channels.get(message[0])
            if stream is not None and len(message) > 1:
                stream._received(message[1:])
        for stream in self._channels.values():
            stream._received(b"")
        self.streams.put(None)

    def send_data(self, stream_id: int, data: bytes, fin: bool) -> None:
        """Data on channel ``stream_id`` (the end of a channel the server writes is not sent: the
        client ends its reading at the error channel's status)."""
        if data:
            self._ws.send_binary(bytes([stream_id]) + data)

    def goaway(self) -> None:
        """End the session: a close frame."""
        self._ws.close()


class ByteStream(BufferedIOBase):
    """The bytes of a WebSocket's binary messages as one input stream (SPDY over WebSocket)."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._buffer = b""

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes (fewer only at the end of the connection)."""
        wanted = size if size is not None and size >= 0 else 0
        while len(self._buffer) < wanted:
            message = self._ws.receive()
            if message is None:
                break
            self._buffer += message
        data, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
        return data
