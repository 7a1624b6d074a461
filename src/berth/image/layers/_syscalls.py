"""The raw system calls the layer code needs and Python lacks: openat2(2), through ctypes.

Kept in this one module so the rest of the package speaks plain ``os`` calls.
"""

from __future__ import annotations

import ctypes
import os

# include/uapi/linux/openat2.h
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall tables merged)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_available: bool | None = None


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """Open ``path`` relative to ``dirfd`` with openat2's ``resolve`` restrictions.

    Raises ``OSError`` with the kernel's errno (``ENOSYS`` where openat2 does not exist).
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def openat2_available() -> bool:
    """Whether this kernel has openat2(2) (Linux 5.6 and later)."""
    global _available
    if _available is None:
        try:
            os.close(openat2(-100, ".", os.O_PATH, RESOLVE_BENEATH))  # -100: AT_FDCWD
            _available = True
        except OSError:
            _available = False
    return _available
