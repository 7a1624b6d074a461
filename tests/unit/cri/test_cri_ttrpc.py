"""NRI's ttrpc over the multiplexed socket (berth.cri.nri.ttrpc): calls both ways on one
connection, errors as statuses, a message split across frames, the end of the connection."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

import pytest

from berth.cri.nri.ttrpc import PLUGIN_CHANNEL, RUNTIME_CHANNEL, CallFailed, Peer, Unanswered
from berth.cri.proto import ttrpc_pb2


def _echo(prefix: bytes) -> Callable[[str, bytes], bytes]:
    def handler(method: str, payload: bytes) -> bytes:
        if method == "Fail":
            raise CallFailed("refused")
        return prefix + method.encode() + b":" + payload

    return handler


def test_calls_both_ways_and_errors() -> None:
    left, right = socket.socketpair()
    runtime = Peer(left, PLUGIN_CHANNEL, RUNTIME_CHANNEL, _echo(b"runtime "))
    plugin = Peer(right, RUNTIME_CHANNEL, PLUGIN_CHANNEL, _echo(b"plugin "))
    for peer in (runtime, plugin):
        threading.Thread(target=peer.serve, daemon=True).start()
    assert runtime.call("svc", "Configure", b"x", 5) == b"plugin Configure:x"
    assert (
        plugin.call("svc", "RegisterPlugin", b"y" * 100_000, 5) == b"runtime RegisterPlugin:" + b"y" * 100_000
    )
    with pytest.raises(CallFailed, match="Fail: refused"):
        runtime.call("svc", "Fail", b"", 5)
    plugin.close()
    assert runtime.closed.wait(5)
    with pytest.raises(Unanswered):
        runtime.call("svc", "Configure", b"", 5)
    runtime.close()


def test_a_message_split_across_frames_and_two_in_one() -> None:
    left, right = socket.socketpair()
    received: list[tuple[str, bytes]] = []

    def record(method: str, payload: bytes) -> bytes:
        received.append((method, payload))
        return b""

    peer = Peer(left, PLUGIN_CHANNEL, RUNTIME_CHANNEL, record)
    serving = threading.Thread(target=peer.serve, daemon=True)
    serving.start()
    messages = b""
    for stream, method in ((1, "First"), (3, "Second")):
        body = ttrpc_pb2.Request(service="s", method=method, payload=method.encode()).SerializeToString()
        messages += struct.pack(">IIBB", len(body), stream, 1, 0) + body
    for chunk in (messages[:7], messages[7:]):  # the first header torn, the second message whole
        right.sendall(struct.pack(">II", RUNTIME_CHANNEL, len(chunk)) + chunk)
    answered = [_read_frame(right) for _ in range(2)]
    assert [struct.unpack(">IIBB", frame[:10])[1:3] for frame in answered] == [(1, 2), (3, 2)]  # responses
    assert received == [("First", b"First"), ("Second", b"Second")]
    right.close()
    serving.join(5)
    assert peer.closed.is_set()
    peer.close()


def _read_frame(sock: socket.socket) -> bytes:
    """One frame's payload from the trunk (a frame from the peer is one whole ttrpc message)."""
    header = sock.recv(8, socket.MSG_WAITALL)
    _channel, length = struct.unpack(">II", header)
    return sock.recv(length, socket.MSG_WAITALL)
