"""Filesystem helpers every layer uses: atomic writes and advisory locks.

One helper each, so that crash-safety rules (write, fsync, rename, fsync the directory) live in one
place. Stdlib ``os`` only (no ``pathlib``): the runtime calls these on every container start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see either the old or the new file, never a part.

    The data is written to a temporary file in the same directory, fsynced, renamed over ``path``,
    and the directory is fsynced so the rename itself survives a crash.
    """
    target = os.fspath(path)
    directory, name = os.path.split(target)
    tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb", closefd=True) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory or ".")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (after a rename or create) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], shared: bool = False) -> Iterator[int]:
    """Hold an ``flock`` on ``path`` (created if missing) for the duration of the block.

    Exclusive by default; ``shared=True`` lets several readers in at once. Yields the open fd.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock
