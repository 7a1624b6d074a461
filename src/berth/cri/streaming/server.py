"""The streaming server: the HTTP endpoint the Exec, Attach and PortForward RPCs point the client at.

An RPC checks its request and stores it under a random single-use token (valid a minute, as the
kubelet's); its answer is ``http://ADDRESS/{exec,attach,portforward}/TOKEN``. The client either POSTs
there asking to upgrade to SPDY/3.1 with the sub-protocols it speaks (``X-Stream-Protocol-Version``),
or GETs it asking for a WebSocket with them (``Sec-WebSocket-Protocol``,
``berth.cri.streaming.websocket``); the server picks one it serves, answers 101 and serves the
session on the connection's thread.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from berth.cri.streaming.spdy import Session, StreamSession
from berth.errors import InvalidArgument

TOKEN_TTL_S = 60.0
KINDS = ("exec", "attach", "portforward")

#: A session's work: given the session, the chosen sub-protocol and the stored request.
Runner = Callable[[StreamSession, str, dict[str, Any]], None]


class StreamServer:
    """Serves upgraded connections on ``address`` (HOST:PORT; port 0 picks one) in threads.
    ``runners`` maps a kind to its sub-protocols and the function that serves a session."""

    def __init__(self, address: str, runners: dict[str, tuple[tuple[str, ...], Runner]]) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidArgument(f"invalid stream_address {address!r}: want HOST:PORT")
        self.runners = runners
        self._requests: dict[str, tuple[str, dict[str, Any], float]] = {}
        self._lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer((host.strip("[]"), int(port)), _handler(self))
        self.httpd.daemon_threads = True
        bound_host, bound_port = self.httpd.server_address[:2]
        text = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
        shown = f"[{text}]" if ":" in text else text
        self.base_url = f"http://{shown}:{bound_port}"

    def start(self) -> None:
        """Serve in a background thread."""
        threading.Thread(target=self.httpd.serve_forever, name="cri-stream", daemon=True).start()

    def stop(self) -> None:
        """Stop accepting connections (sessions in progress end with their clients)."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def url_for(self, kind: str, request: dict[str, Any]) -> str:
        """Store ``request`` under a new token; the URL the client is to use."""
        token = secrets.token_urlsafe(12)
        now = time.monotonic()
        with self._lock:
            for stale in [t for t, (_k, _r, at) in self._requests.items() if now - at > TOKEN_TTL_S]:
                del self._requests[stale]
            self._requests[token] = (kind, request, now)
        return f"{self.base_url}/{kind}/{token}"

    def take(self, kind: str, token: str) -> dict[str, Any] | None:
        """The request stored under ``token`` for ``kind`` (once); None if unknown or expired."""
        with self._lock:
            found = self._requests.pop(token, None)
        if found is None or found[0] != kind or time.monotonic() - found[2] > TOKEN_TTL_S:
            return None
        return found[1]


def _handler(server: StreamServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the RPC that made the token logs the request

        def do_GET(self) -> None:
            found = self._session("websocket")
            if found is None:
                return
            kind, request, chosen = found
            from berth.cri.streaming import remotecommand, websocket

            key = self.headers.get("Sec-WebSocket-Key", "")
            self._switch(
                {
                    "Upgrade": "websocket",
                    "Sec-WebSocket-Accept": websocket.accept_key(key),
                    "Sec-WebSocket-Protocol": chosen,
                }
            )
            ws = websocket.WebSocket(self.rfile, self.connection.sendall)
            inner = websocket.SUBPROTOCOLS[chosen]
            session: websocket.ChannelSession | Session
            if kind == "portforward":
                session = Session(websocket.ByteStream(ws), ws.send_binary)
            else:
                names = remotecommand.expected_channels(request)
                session = websocket.ChannelSession(ws, names, v5=chosen.startswith("v5."))
            self._serve(session, inner, kind, request)

        def do_POST(self) -> None:
            found = self._session("spdy/3.1")
            if found is None:
                return
            kind, request, chosen = found
            self._switch({"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": chosen})
            self._serve(Session(self.rfile, self.connection.sendall), chosen, kind, request)

        def _switch(self, headers: dict[str, str]) -> None:
            """Answer 101 with ``headers``: from here the connection is the session's."""
            self.send_response(101, "Switching Protocols")
            self.send_header("Connection", "Upgrade")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()

        def _session(self, upgrade: str) -> tuple[str, dict[str, Any], str] | None:
            """The kind, stored request and chosen sub-protocol of an upgrade to ``upgrade``; None
            (the client answered) for anything else."""
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 2 or parts[0] not in server.runners:
                self._refuse(404, "not found")
                return None
            kind, token = parts
            if self.headers.get("Upgrade", "").lower() != upgrade:
                self._refuse(400, "want Upgrade: SPDY/3.1 (POST) or websocket (GET)")
                return None
            request = server.take(kind, token)
            if request is None:
                self._refuse(404, f"unknown or expired {kind} token")
                return None
            served, _run = server.runners[kind]
            header = "X-Stream-Protocol-Version" if upgrade == "spdy/3.1" else "Sec-WebSocket-Protocol"
            offered = [p.strip() for v in self.headers.get_all(header) or [] for p in v.split(",")]
            if upgrade != "spdy/3.1":
                from berth.cri.streaming.websocket import SUBPROTOCOLS

                served = tuple(p for p, inner in SUBPROTOCOLS.items() if inner in served)
            chosen = next((p for p in served if p in offered), "")
            if not chosen:
                self._refuse(403, f"no sub-protocol in common: offered {offered}, served {list(served)}")
                return None
            return kind, request, chosen

        def _serve(self, session: Any, chosen: str, kind: str, request: dict[str, Any]) -> None:
            """Read the session's input in a thread, run the kind's work, then end the session."""
            threading.Thread(target=session.serve, daemon=True).start()
            try:
                server.runners[kind][1](session, chosen, request)
            finally:
                session.goaway()
                self.close_connection = True  # closing the connection ends the session's reader

        def _refuse(self, code: int, message: str) -> None:
            body = message.encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
