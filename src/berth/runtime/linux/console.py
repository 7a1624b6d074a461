"""config.md#process ``terminal``: a pty inside the container, its master sent out over a socket.

runc's console protocol (used by conmon and containerd's shim): the runtime connects to the unix
socket given by ``--console-socket`` and sends the pty master as SCM_RIGHTS ancillary data. A
foreground ``exec --tty`` without one gets the master itself and relays it to its own stdio, as
runc does: its terminal in raw mode, its size passed on at each SIGWINCH.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from berth.errors import InvalidArgument
from berth.runtime.linux import syscalls as s
from berth.spec.runtime_config import ConsoleSize

_TIOCSCTTY = 0x540E
_TIOCSWINSZ = 0x5414
_TIOCGWINSZ = 0x5413


def connect(path: str) -> int:
    """Connect to the console socket (before forking: its path is on the host); return the fd."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        raise InvalidArgument(f"--console-socket {path}: {err.strerror}") from None
    return sock.detach()


def setup(sc: s.Syscalls, socket_fd: int, size: ConsoleSize | None, mount_console: bool) -> None:
    """Open a pty, make it this process's controlling terminal and stdio, and send its master out.

    ``mount_console`` bind-mounts the pty over /dev/console, as runc does for the container init.
    """
    master, slave = os.openpty()
    slave_path = os.ttyname(slave)
    if size is not None:
        fcntl.ioctl(master, _TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0))
    if mount_console:
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        sc.mount(slave_path, "/dev/console", "", s.MS_BIND)
    sock = socket.socket(fileno=socket_fd)
    try:
        socket.send_fds(sock, [slave_path.encode()], [master])
    finally:
        sock.close()
        os.close(master)
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def terminal_size(fd: int) -> ConsoleSize | None:
    """The size of the terminal ``fd``; None if it is not one."""
    try:
        rows, columns, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, _TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return ConsoleSize(height=rows, width=columns)


def foreground_pair() -> tuple[int, int]:
    """A connected pair (ours, the process's) standing in for a console socket."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return ours.detach(), theirs.detach()


def relay_foreground(sock_fd: int) -> None:
    """Receive the pty master on ``sock_fd`` and copy between it and this process's stdio until the
    container's side closes; this process's terminal (if stdin is one) is raw meanwhile, and its
    size follows to the pty."""
    import select
    import signal
    import termios
    import tty

    with socket.socket(fileno=sock_fd) as sock:
        _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        return  # the process failed before it made its terminal (its error is reported)
    master = fds[0]
    is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if is_tty else None

    def resize(*_: object) -> None:
        if is_tty:
            fcntl.ioctl(master, _TIOCSWINSZ, fcntl.ioctl(0, _TIOCGWINSZ, b"\0" * 8))

    previous = signal.signal(signal.SIGWINCH, resize)
    try:
        if is_tty:
            tty.setraw(0)
            resize()
        readers = [master, 0]
        while master in readers:
            ready, _, _ = select.select(readers, [], [])
            for fd in ready:
                try:
                    data = os.read(fd, 32768)
                except OSError:
                    data = b""  # EIO: the container's side of the pty is closed
                if fd == master and not data:
                    readers.remove(master)
                elif fd == master:
                    _write_all(1, data)
                elif not data:
                    readers.remove(0)  # our input ended: the container's goes on
                else:
                    _write_all(master, data)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
