"""The streaming server's WebSocket side (berth.cri.streaming.websocket): the handshake key, a
client's masked and fragmented frames, pings, and Kubernetes' channels on top."""

from __future__ import annotations

import io
import os
import struct

from berth.cri.streaming.websocket import ByteStream, ChannelSession, WebSocket, accept_key


def _client_frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    """A frame as a client sends it: masked (RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([(0x80 if final else 0) | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_the_handshake_key_is_the_rfcs_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_fragments_are_joined_pings_answered_and_close_ends() -> None:
    sent: list[bytes] = []
    wire = (
        _client_frame(0x2, b"hel", final=False)
        + _client_frame(0x9, b"ping?")
        + _client_frame(0x0, b"lo" * 100)
        + _client_frame(0x8, struct.pack(">H", 1000))
    )
    ws = WebSocket(io.BufferedReader(io.BytesIO(wire)), sent.append)
    assert ws.receive() == b"hel" + b"lo" * 100
    assert ws.receive() is None
    assert sent[0] == b"\x8a\x05ping?"  # the pong, unmasked, first
    assert sent[1] == b"\x88\x02\x03\xe8"  # the close answered
    ws.send_binary(b"x" * 300)
    assert sent[2][:4] == b"\x82\x7e\x01\x2c"


def test_channels_of_a_v5_exec() -> None:
    sent: list[bytes] = []
    wire = _client_frame(0x2, b"\x00typed") + _client_frame(0x2, b"\xff\x00") + _client_frame(0x2, b"\x04{}")
    ws = WebSocket(io.BufferedReader(io.BytesIO(wire)), sent.append)
    session = ChannelSession(ws, {"stdin", "stdout", "error", "resize"}, v5=True)
    offered = [session.streams.get_nowait() for _ in range(4)]
    channels = {s.headers["streamtype"]: s for s in offered if s is not None}
    session.serve()
    assert channels["stdin"].read() == b"typed" and channels["stdin"].read() == b""  # 255, 0: its end
    assert channels["resize"].read() == b"{}"
    channels["stdout"].write(b"out")
    assert sent == [b"\x82\x04\x01out"]


def test_spdy_over_websocket_reads_across_messages() -> None:
    wire = _client_frame(0x2, b"abc") + _client_frame(0x2, b"defg")
    stream = ByteStream(WebSocket(io.BufferedReader(io.BytesIO(wire)), lambda data: None))
    assert (stream.read(5), stream.read(5)) == (b"abcde", b"fg")
