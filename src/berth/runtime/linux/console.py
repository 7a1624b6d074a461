"""config.md#process ``terminal``: a pty inside the container, its master sent out over a socket.

runc's console protocol (used by conmon and containerd's shim): the runtime connects to the unix
socket given by ``--console-socket`` and sends the pty master as SCM_RIGHTS ancillary data.
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
