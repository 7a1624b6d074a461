"""The line protocol between the runtime process and the processes it forks to build a container.

Two pipes (no socket module on the start path): each message is ``verb[ payload]\\n``. A closed pipe
reads as ``("eof", "")``, so a child whose runtime died, or a runtime whose child died, notices.
"""

from __future__ import annotations

import os


class Channel:
    """One end of the bidirectional pipe pair."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buf = b""

    def send(self, verb: str, payload: str = "") -> None:
        """Send one message (payload must not contain a newline)."""
        line = f"{verb} {payload}\n" if payload else f"{verb}\n"
        data = line.encode()
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except BrokenPipeError:
            # The other side is gone; what it said before going is the error worth reporting.
            self.expect(f"a reply to {verb!r}")
            raise

    def recv(self) -> tuple[str, str]:
        """Block for the next message: (verb, payload)."""
        while b"\n" not in self._buf:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                return "eof", ""
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        verb, _, payload = line.decode().partition(" ")
        return verb, payload

    def expect(self, verb: str) -> str:
        """Receive a message that must be ``verb``; an ``error`` message or EOF raises."""
        got, payload = self.recv()
        if got == verb:
            return payload
        if got == "error":
            raise ChildError(payload)
        if got == "hook-error":
            raise ChildHookError(payload)
        raise ChildError(f"container init exited unexpectedly (waiting for {verb!r}, got {got!r})")

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                continue  # closed already


class ChildError(Exception):
    """The other side reported a failure, or vanished."""


class ChildHookError(ChildError):
    """The other side reported that a hook it ran failed."""


def pair() -> tuple[Channel, Channel]:
    """(parent end, child end); fds are close-on-exec, so the container never inherits them."""
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    return Channel(up_r, down_w), Channel(down_r, up_w)
