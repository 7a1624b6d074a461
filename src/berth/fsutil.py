"""Filesystem helpers every layer uses: atomic writes, advisory locks, paths confined to a root.

One helper each, so that crash-safety rules (write, fsync, rename, fsync the directory) live in one
place. ``os`` and ``fcntl`` only (no ``pathlib``, no ``contextlib``): the runtime calls these on every
container start, where each of those imports costs milliseconds.
"""

from __future__ import annotations

import fcntl
import os
import threading

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # type checkers see True; the runtime's start path skips the import
if TYPE_CHECKING:
    from collections.abc import Callable
    from io import BufferedWriter
    from types import TracebackType


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see either the old or the new file, never a part.
    ``durable=False`` skips the fsyncs, for files a reboot discards anyway (the run root)."""
    with AtomicFile(path, mode, durable) as fh:
        fh.write(data)


class AtomicFile:
    """A file written beside ``path`` and renamed over it when the ``with`` block ends: readers see
    the old file or the complete new one, never a part. Entering gives the binary file to write.

    On success the file is fsynced before the rename and the directory after it, so the rename
    survives a crash (unless ``durable`` is false: a file that does not outlive a reboot need not
    wait for the disk); on an error the partial file is removed and ``path`` is left as it was.
    ``mode`` is the new file's (less the umask).
    """

    def __init__(self, path: str | os.PathLike[str], mode: int = 0o644, durable: bool = True) -> None:
        self.target = os.fspath(path)
        directory, name = os.path.split(self.target)
        self.directory = directory or "."
        # pid and thread: two threads of one process (the CRI server's) may write the same file.
        self.tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}-{threading.get_native_id()}")
        self.mode = mode
        self.durable = durable
        self._file: BufferedWriter | None = None

    def __enter__(self) -> BufferedWriter:
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self.mode)
        self._file = os.fdopen(fd, "wb", closefd=True)
        return self._file

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fh = self._file
        assert fh is not None, "AtomicFile left without being entered"
        try:
            if exc_type is None:
                fh.flush()
                if self.durable:
                    os.fsync(fh.fileno())
            fh.close()
            if exc_type is None:
                os.rename(self.tmp, self.target)
                if self.durable:
                    fsync_dir(self.directory)
                return
        except BaseException:
            self._discard()
            raise
        self._discard()

    def _discard(self) -> None:
        try:  # noqa: SIM105 -- contextlib.suppress would import contextlib on the runtime's start path
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (after a rename or create) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileLock:
    """An ``flock`` on a file, held for a ``with`` block; entering yields the open fd."""

    def __init__(self, path: str | os.PathLike[str], shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self._fd = -1

    def __enter__(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return fd

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # closing releases the lock


def locked(path: str | os.PathLike[str], shared: bool = False) -> FileLock:
    """Hold an ``flock`` on ``path`` (created if missing) for the duration of a ``with`` block.

    Exclusive by default; ``shared=True`` lets several readers in at once. Entering yields the fd.
    """
    return FileLock(path, shared)


def resolve_in_root(root: str, path: str) -> str:
    """The host path of container path ``path``, following symlinks as if ``root`` were ``/``.

    Symlinks and ``..`` can never lead outside ``root`` (what runc's securejoin guarantees), so a
    hostile image cannot turn a mount destination or a copy target into a host path.
    """
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or does not exist yet
            resolved.append(part)
            continue
        hops += 1
        if hops > 255:
            raise InvalidArgument(f"{path}: too many levels of symbolic links")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p and p != "."] + parts
    return os.path.join(root, *resolved)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove the directory ``path`` and everything beneath it, as ``shutil.rmtree(path,
    ignore_errors=True)`` does: what is gone already or cannot be removed is skipped, and symbolic
    links are removed, never followed (each directory is opened with ``O_NOFOLLOW`` relative to
    its parent's descriptor, so a link swapped in meanwhile is not entered). ``path`` itself must be
    a directory, not a link to one. Berth's own because importing shutil brings its archive modules
    (bz2, lzma): about 2 ms of every container's start and of its exit."""
    try:
        fd = os.open(path, _DIRECTORY_FLAGS)
    except OSError:
        return
    try:
        _remove_entries(fd)
    finally:
        os.close(fd)
    _quietly(os.rmdir, path)


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_entries(fd: int) -> None:
    """Remove everything in the open directory ``fd``."""
    with os.scandir(fd) as entries:
        found = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in found:
        try:
            if not is_dir:
                os.unlink(name, dir_fd=fd)
                continue
            child = os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
        except OSError:
            continue
        try:
            _remove_entries(child)
        finally:
            os.close(child)
        _quietly(os.rmdir, name, dir_fd=fd)


def _quietly(call: Callable[..., object], *args: object, **kwargs: object) -> None:
    """``call`` with an ``OSError`` ignored (contextlib.suppress without importing contextlib)."""
    try:  # noqa: SIM105 (the runtime's start path does without contextlib)
        call(*args, **kwargs)
    except OSError:
        pass
