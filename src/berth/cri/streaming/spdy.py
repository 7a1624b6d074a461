"""SPDY/3.1, the server's side, as far as Kubernetes' streaming protocols use it.

A connection upgraded from HTTP/1.1 carries frames (draft-mbelshe-httpbis-spdy-00 §2.2): control
frames (SYN_STREAM opens a stream with a header block, SYN_REPLY accepts it, RST_STREAM, PING,
GOAWAY...) and data frames for a stream, the last one flagged FIN. Header blocks are compressed with
one zlib stream per direction, primed with the dictionary of §2.6.10.1. The client opens every
stream (one per channel: stdin, stdout, error...), the server answers each with a SYN_REPLY and
then reads and writes them. Flow control (WINDOW_UPDATE) is not enforced, as Kubernetes' own
implementation does not.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
import zlib
from collections.abc import Callable
from io import BufferedIOBase
from typing import Protocol

# §2.6.10.1: the header compression dictionary: length-prefixed words, then a raw tail.
# fmt: off
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
    "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization",
    "range", "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
    "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
# fmt: on
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
_MAX_DATA = 32 * 1024


class StreamSession(Protocol):
    """What the exec, attach and port-forward code needs of a session, SPDY's or a WebSocket's
    (``berth.cri.streaming.websocket``): the client's streams as they open (None at the end), data
    sent back on one, and the end of the session."""

    streams: queue.Queue[Stream | None]

    def send_data(self, stream_id: int, data: bytes, fin: bool) -> None: ...

    def goaway(self) -> None: ...


class Stream:
    """One stream the client opened: its headers, what it sent (``read`` gives b"" at its FIN or
    reset), and ``write``/``close`` for what goes back."""

    def __init__(self, session: StreamSession, stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._incoming: queue.Queue[bytes] = queue.Queue()
        self.closed = False

    def read(self) -> bytes:
        """The next data the client sent; b"" once it half-closed the stream (or the session ended)."""
        return self._incoming.get()

    def write(self, data: bytes) -> None:
        """Send ``data`` on the stream (in frames of at most 32 KiB)."""
        for at in range(0, len(data), _MAX_DATA):
            self.session.send_data(self.id, data[at : at + _MAX_DATA], fin=False)

    def close(self) -> None:
        """Half-close the stream from this side (an empty FIN data frame), once."""
        if not self.closed:
            self.closed = True
            self.session.send_data(self.id, b"", fin=True)

    def _received(self, data: bytes) -> None:
        self._incoming.put(data)


class Session:
    """The server's side of one SPDY connection: ``reader`` the upgraded connection's buffered input,
    ``send`` writes bytes to it. ``serve`` reads frames until the connection ends, handing each new
    stream to ``streams``."""

    def __init__(self, reader: BufferedIOBase, send: Callable[[bytes], object]) -> None:
        self.reader = reader
        self._send = send
        self._lock = threading.Lock()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self.streams: queue.Queue[Stream | None] = queue.Queue()
        self._open: dict[int, Stream] = {}
        self.ended = threading.Event()

    def serve(self) -> None:
        """Read frames until the client goes away; then every stream reads b"" and ``streams`` None."""
        try:
            while self._frame():
                pass
        except (OSError, ValueError, zlib.error, struct.error):
            pass
        finally:
            self.ended.set()
            for stream in list(self._open.values()):
                stream._received(b"")
            self.streams.put(None)

    def _frame(self) -> bool:
        head = self._read(8)
        if head is None:
            return False
        first, second = struct.unpack(">II", head)
        flags, length = second >> 24, second & 0xFFFFFF
        body = self._read(length) if length else b""
        if body is None:
            return False
        if first & 0x80000000:
            return self._control(first & 0xFFFF, flags, body)
        stream = self._open.get(first & 0x7FFFFFFF)
        if stream is not None:
            if body:
                stream._received(body)
            if flags & FLAG_FIN:
                stream._received(b"")
        return True

    def _control(self, kind: int, flags: int, body: bytes) -> bool:
        if kind == SYN_STREAM:
            stream_id = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            stream = Stream(self, stream_id, self._headers(body[10:]))
            self._open[stream_id] = stream
            self._control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._header_block({}))
            if flags & FLAG_FIN:
                stream._received(b"")
            self.streams.put(stream)
        elif kind == RST_STREAM:
            reset = self._open.get(struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF)
            if reset is not None:
                reset.closed = True
                reset._received(b"")
        elif kind == PING:
            self._control_frame(PING, 0, body[:4])
        elif kind == GOAWAY:
            return False
        elif kind == HEADERS:
            self._headers(body[4:])  # keeps the shared decompression context in step
        return True  # SETTINGS, WINDOW_UPDATE: nothing to do

    def _read(self, size: int) -> bytes | None:
        data = self.reader.read(size)
        return data if data is not None and len(data) == size else None

    def _headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        count = struct.unpack(">I", raw[:4])[0]
        at, headers = 4, {}
        for _ in range(count):
            size = struct.unpack(">I", raw[at : at + 4])[0]
            name = raw[at + 4 : at + 4 + size].decode()
            at += 4 + size
            size = struct.unpack(">I", raw[at : at + 4])[0]
            headers[name.lower()] = raw[at + 4 : at + 4 + size].decode()
            at += 4 + size
        return headers

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            raw += (
                struct.pack(">I", len(name)) + name.encode() + struct.pack(">I", len(value)) + value.encode()
            )
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def _control_frame(self, kind: int, flags: int, body: bytes) -> None:
        self._write(struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body)

    def send_data(self, stream_id: int, data: bytes, fin: bool) -> None:
        """A data frame for ``stream_id``."""
        flags = FLAG_FIN if fin else 0
        self._write(struct.pack(">II", stream_id, flags << 24 | len(data)) + data)

    def goaway(self) -> None:
        """Tell the client no more streams will be served (last stream id 0, status OK)."""
        self._control_frame(GOAWAY, 0, struct.pack(">II", 0, 0))

    def _write(self, frame: bytes) -> None:
        # The client going away ends the session through its reader.
        with self._lock, contextlib.suppress(OSError):
            self._send(frame)
