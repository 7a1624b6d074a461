"""PortForward over Kubernetes' ``portforward.k8s.io`` protocol (SPDY).

For each forwarded connection the client opens two streams with the same ``requestid`` and
``port`` headers: ``streamtype: error`` and ``streamtype: data``. The server connects to the port on
the sandbox's loopback, inside its network namespace, and copies between the data stream and the
connection; a failure to connect is a message on the error stream.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
from pathlib import Path

from berth.cri.streaming.spdy import Stream, StreamSession

PROTOCOL = "portforward.k8s.io"
_CLONE_NEWNET = 0x40000000


def serve_port_forward(session: StreamSession, netns: Path | None) -> None:
    """Serve the session's forwarded connections until it ends; ``netns`` is the sandbox's network
    namespace (None: the node's)."""
    pending: dict[str, dict[str, Stream]] = {}
    while (stream := session.streams.get()) is not None:
        request = stream.headers.get("requestid", "")
        pair = pending.setdefault(request, {})
        pair[stream.headers.get("streamtype", "")] = stream
        if {"error", "data"} <= pair.keys():
            del pending[request]
            threading.Thread(target=_forward, args=(pair, netns), daemon=True).start()


def _forward(pair: dict[str, Stream], netns: Path | None) -> None:
    error, data = pair["error"], pair["data"]
    port_text = data.headers.get("port", "")
    try:
        port = int(port_text)
        conn = connect_in(netns, port)
    except (ValueError, OSError) as err:
        error.write(f"error forwarding port {port_text}: {err}".encode())
        error.close()
        data.close()
        return

    def inbound() -> None:
        with contextlib.suppress(OSError):
            while chunk := data.read():
                conn.sendall(chunk)
            conn.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=inbound, daemon=True)
    thread.start()
    with contextlib.suppress(OSError):
        while chunk := conn.recv(32768):
            data.write(chunk)
    data.close()
    error.close()
    thread.join()
    conn.close()


def connect_in(netns: Path | None, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port`` made in network namespace ``netns`` (the calling
    thread enters it for the ``connect`` and comes back: setns(2) is per thread)."""
    if netns is None:
        return socket.create_connection(("127.0.0.1", port), timeout=10)
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        finally:
            if libc.setns(own, _CLONE_NEWNET) != 0:
                os._exit(70)  # this thread cannot be trusted in the node's namespace any more
        sock.settimeout(None)
        return sock
    finally:
        os.close(own)
        os.close(target)
