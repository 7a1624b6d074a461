"""Named network namespaces: a new namespace kept alive by bind-mounting its nsfs file.

The engine makes the namespace before the container exists (as ``ip netns add`` does, but under
Berth's run root), so CNI can configure it and the runtime can join it by path
(runtime-spec config-linux.md#namespaces: ``path``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
from pathlib import Path

from berth.errors import BerthError

_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MNT_DETACH = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1  # linux/sockios.h, linux/if.h
_libc = ctypes.CDLL(None, use_errno=True)


def create_netns(path: Path) -> None:
    """Create a network namespace pinned at ``path`` (a new empty file), its loopback up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=False)
    child = os.fork()
    if child == 0:
        # Only this short-lived child enters the new namespace; the bind mount outlives it.
        status = 1
        try:
            if _libc.unshare(_CLONE_NEWNET) == 0 and (
                _libc.mount(b"/proc/self/ns/net", os.fsencode(path), None, _MS_BIND, None) == 0
            ):
                status = 0 if _loopback_up() else 1
            else:
                status = ctypes.get_errno() or 1
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        path.unlink(missing_ok=True)
        raise BerthError(f"cannot create network namespace {path}: {os.strerror(code)}")


def _loopback_up() -> bool:
    """Bring up ``lo`` in this process's network namespace (the kernel then gives it 127.0.0.1 and
    ::1), as CNI's loopback plugin would, without running a plugin. Whether that worked."""
    ifreq = struct.Struct("16sH14x")  # struct ifreq: the name, then ifr_flags in the union
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            _name, flags = ifreq.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, ifreq.pack(b"lo", 0)))
            fcntl.ioctl(sock, _SIOCSIFFLAGS, ifreq.pack(b"lo", flags | _IFF_UP))
    except OSError:
        return False
    return True


def remove_netns(path: Path) -> None:
    """Unmount and delete the namespace file at ``path``; no error if it is already gone."""
    if _libc.umount2(os.fsencode(path), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise BerthError(f"cannot unmount network namespace {path}: {os.strerror(err)}")
    path.unlink(missing_ok=True)
