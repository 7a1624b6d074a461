"""The SPDY/3.1 session of the streaming server, fed frames a client would send."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

from berth.cri.streaming import spdy


def _header_block(compressor: zlib._Compress, headers: dict[str, str]) -> bytes:
    raw = struct.pack(">I", len(headers))
    for name, value in headers.items():
        for text in (name.encode(), value.encode()):
            raw += struct.pack(">I", len(text)) + text
    return compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _control(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | 3, kind, flags << 24 | len(body)) + body


def test_the_dictionary_is_the_specs() -> None:
    # draft-mbelshe-httpbis-spdy-00 §2.6.10.1: 1423 bytes
    assert len(spdy.DICTIONARY) == 1423
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest().startswith("51d27341373f923f")


def test_a_stream_opened_fed_and_closed() -> None:
    compressor = zlib.compressobj(zdict=spdy.DICTIONARY)
    syn = struct.pack(">IIH", 1, 0, 0) + _header_block(compressor, {"streamtype": "stdin"})
    wire = (
        _control(spdy.SYN_STREAM, 0, syn)
        + _control(spdy.PING, 0, struct.pack(">I", 7))
        + struct.pack(">II", 1, 5) + b"hello"
        + struct.pack(">II", 1, spdy.FLAG_FIN << 24)
    )  # fmt: skip
    sent: list[bytes] = []
    session = spdy.Session(io.BufferedReader(io.BytesIO(wire)), sent.append)
    session.serve()
    stream = session.streams.get_nowait()
    assert stream is not None and stream.headers == {"streamtype": "stdin"}
    assert [stream.read(), stream.read()] == [b"hello", b""]
    assert session.streams.get_nowait() is None  # the connection ended
    reply, pong = sent
    assert struct.unpack(">HH", reply[:4]) == (0x8003, spdy.SYN_REPLY) and reply[8:12] == struct.pack(">I", 1)
    assert pong == _control(spdy.PING, 0, struct.pack(">I", 7))
    stream.write(b"out")
    stream.close()
    stream.close()  # once only
    assert sent[2:] == [struct.pack(">II", 1, 3) + b"out", struct.pack(">II", 1, spdy.FLAG_FIN << 24)]
