"""A small Docker API client for the tests: HTTP/1.1 over the service's unix socket, and the
hijacked connection of attach read as raw bytes."""

from __future__ import annotations

import http.client
import json
import socket
import struct
from typing import Any


class UnixConnection(http.client.HTTPConnection):
    """``http.client`` over a unix socket."""

    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Response:
    """Status, headers and body of one answer."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        """Docker's error message."""
        return str(self.json()["message"])


class DockerAPI:
    """Requests to the service at ``path`` (a unix socket)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = UnixConnection(self.path)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            sent = (
                {"Content-Type": "application/json", **(headers or {})} if data is not None else headers or {}
            )
            conn.request(method, url, body=data, headers=sent)
            answer = conn.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            conn.close()

    def get(self, url: str) -> Response:
        return self.request("GET", url)

    def post(self, url: str, body: Any = None) -> Response:
        return self.request("POST", url, body)

    def delete(self, url: str) -> Response:
        return self.request("DELETE", url)

    def create(self, image: str = "localhost/busybox", **config: Any) -> str:
        """Create a container; its id."""
        name = config.pop("name", "")
        answer = self.post(f"/v1.44/containers/create?name={name}", {"Image": image, **config})
        assert answer.status == 201, answer.body
        return str(answer.json()["Id"])

    def hijack(self, url: str, body: bytes = b"") -> tuple[socket.socket, bytes]:
        """POST ``url`` (with a JSON ``body``) asking for ``Upgrade: tcp``; the socket and the
        answer's head."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(self.path)
        sock.sendall(
            f"POST {url} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                break
            head += chunk
        return sock, head


def read_all(sock: socket.socket) -> bytes:
    """Everything until the peer closes."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def demultiplex(data: bytes) -> dict[int, bytes]:
    """The payloads of Docker's multiplexed frames by stream (1 stdout, 2 stderr)."""
    streams: dict[int, bytes] = {}
    while data:
        assert len(data) >= 8, f"a torn frame header: {data!r}"
        kind, size = struct.unpack(">BxxxL", data[:8])
        streams[kind] = streams.get(kind, b"") + data[8 : 8 + size]
        data = data[8 + size :]
    return streams
