"""mount(2) and umount2(2) through ctypes: the only raw system calls of the snapshotter."""

from __future__ import annotations

import ctypes
import os

MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str, data: str, flags: int = 0) -> None:
    """mount(2); raises ``OSError`` with the kernel's errno."""
    rc = _libc.mount(os.fsencode(source), os.fsencode(target), fstype.encode(), flags, data.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def mount_in(cwd: str, source: str, target: str, fstype: str, data: str) -> None:
    """mount(2) from a child process whose working directory is ``cwd``, so ``data`` may name
    directories relative to it (this process's own working directory is never changed)."""
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup, just the system calls
        code = 0
        try:
            os.chdir(cwd)
            mount(source, target, fstype, data)
        except OSError as err:
            code = err.errno or 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(code, f"mount {fstype} on {target}: {os.strerror(code)}")


def umount(target: str, flags: int = 0) -> None:
    """umount2(2); raises ``OSError`` with the kernel's errno."""
    if _libc.umount2(os.fsencode(target), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
