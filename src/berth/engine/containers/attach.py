"""The command side of an attached container: connect to the monitor's socket and relay the terminal
or stdio to it.

Speaks the monitor's attach protocol (``berth.engine.containers.monitor``): output packets go to
this process's stdout and stderr, stdin is forwarded (and its end announced) with ``-i``, and with
``-t`` the local terminal is put in raw mode and its size sent on every SIGWINCH.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import tty as ttymod
from collections.abc import Callable, Iterator

from berth.engine.containers.monitor import CLOSE_STDIN, EXIT, RESIZE, STDERR, STDIN, STDOUT, attach_client
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE
from berth.engine.options import CreateOptions
from berth.errors import InvalidState

_CHUNK = 32767

#: Where a relay's output goes: ``write(stream, data)``, the stream the monitor's STDOUT or STDERR.
OutputSink = Callable[[int, bytes], None]


def attach_container(engine: Engine, ref: str) -> tuple[socket.socket, CreateOptions]:
    """Connect to the running container's monitor as an attach client (podman attach): output from
    now on, stdin if the container keeps it open, and the exit code at the end. Also returns the
    container's options (whether it has a terminal, and stdin)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    try:
        sock = attach_client(engine.paths(record.id).attach_socket)
    except OSError as err:
        raise InvalidState(f"container {record.name}: its monitor does not answer ({err.strerror})") from None
    container_event(engine.config, record, "attach")
    return sock, CreateOptions.from_json(record.config["options"])


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _send_size(sock: socket.socket, fd: int) -> None:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    with contextlib.suppress(OSError):
        sock.send(bytes([RESIZE]) + struct.pack("HH", rows, cols))


def relay(sock: socket.socket, interactive: bool, tty: bool) -> int | None:
    """Relay until the monitor closes the socket; the container's exit code (``None`` if unknown)."""
    stdin = sys.stdin.fileno()
    is_terminal = tty and os.isatty(stdin)
    with contextlib.ExitStack() as stack:
        if is_terminal:
            stack.enter_context(_raw_terminal(stdin))
            _send_size(sock, stdin)
            previous = signal.signal(signal.SIGWINCH, lambda *_: _send_size(sock, stdin))
            stack.callback(signal.signal, signal.SIGWINCH, previous)
        return _loop(sock, stdin if interactive else None, _to_stdio)


def relay_output(sock: socket.socket, write: OutputSink) -> int | None:
    """Relay the container's output to ``write`` (no stdin) until the monitor closes the socket;
    the container's exit code (``None`` if unknown)."""
    return _loop(sock, None, write)


def _to_stdio(stream: int, data: bytes) -> None:
    _write_all(1 if stream == STDOUT else 2, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass  # the reader went away (``| head``); keep relaying until the container's exit code


def _loop(sock: socket.socket, stdin: int | None, write: OutputSink) -> int | None:
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    if stdin is not None:
        sel.register(stdin, selectors.EVENT_READ)
    code: int | None = None
    while True:
        for key, _ in sel.select():
            if key.fileobj is sock:
                try:
                    packet = sock.recv(_CHUNK + 1)
                except OSError:
                    packet = b""
                if not packet:
                    return code
                kind, body = packet[0], packet[1:]
                if kind in (STDOUT, STDERR):
                    write(kind, body)
                elif kind == EXIT:
                    code = int(body)
            else:
                data = os.read(stdin, _CHUNK) if stdin is not None else b""
                try:
                    sock.send(bytes([STDIN]) + data if data else bytes([CLOSE_STDIN]))
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
