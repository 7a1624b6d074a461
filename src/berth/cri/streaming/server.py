"""The streaming server: the HTTP endpoint the Exec, Attach and PortForward RPCs point the client at.

An RPC checks its request and stores it under a random single-use token (valid a minute, as the
kubelet's); its answer is ``http://ADDRESS/{exec,attach,portforward}/TOKEN``. The client POSTs
there asking to upgrade to SPDY/3.1 with the sub-protocols it speaks (``X-Stream-Protocol-Version``);
the server picks one it serves, answers 101 and serves the session on the connection's thread.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from berth.cri.streaming.spdy import Session
from berth.errors import InvalidArgument

TOKEN_TTL_S = 60.0
KINDS = ("exec", "attach", "portforward")

#: A session's work: given the SPDY session, the chosen sub-protocol and the stored request.
Runner = Callable[[Session, str, dict[str, Any]], None]


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
            self._refuse(400, "the streaming server speaks SPDY/3.1 (POST with Upgrade), not WebSocket")

        def do_POST(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 2 or parts[0] not in server.runners:
                self._refuse(404, "not found")
                return
            kind, token = parts
            request = server.take(kind, token)
            if request is None:
                self._refuse(404, f"unknown or expired {kind} token")
                return
            if self.headers.get("Upgrade", "").lower() != "spdy/3.1":
                self._refuse(400, "want Upgrade: SPDY/3.1")
                return
            served, run = server.runners[kind]
            offered = [
                p.strip()
                for v in self.headers.get_all("X-Stream-Protocol-Version") or []
                for p in v.split(",")
            ]
            chosen = next((p for p in offered if p in served), "")
            if not chosen:
                self._refuse(403, f"no sub-protocol in common: offered {offered}, served {list(served)}")
                return
            self.send_response(101, "Switching Protocols")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "SPDY/3.1")
            self.send_header("X-Stream-Protocol-Version", chosen)
            self.end_headers()
            self.wfile.flush()
            session = Session(self.rfile, self.connection.sendall)
            threading.Thread(target=session.serve, daemon=True).start()
            try:
                run(session, chosen, request)
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
