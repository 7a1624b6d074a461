"""Filesystem helpers every layer uses: atomic writes, advisory locks, paths confined to a root.

One helper each, so that crash-safety rules (write, fsync, rename, fsync the directory) live in one
place. ``os`` and ``fcntl`` only (no ``pathlib``, no ``contextlib``): the runtime calls these on every
container start, where each of those imports costs milliseconds.
"""

from __future__ import annotations

import fcntl
import os
import stat  # loaded by os already
from _thread import get_native_id  # threading's own, without threading's imports (~2 ms a start)

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # type checkers see True; the runtime's start path skips the import
if TYPE_CHECKING:
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
        self.tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}-{get_native_id()}")
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
    ignore_errors=True)`` does: what is gone already or cannot be removed is skipped and the rest
    goes. ``path`` itself must be a directory: a link or file given is left as it is. Berth's own
    (``remove_tree_at``) because importing shutil brings its archive modules (bz2, lzma): about
    2 ms of every container's start and of its exit."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return
        parent, name = os.path.split(os.path.abspath(path))
        parent_fd = os.open(parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return
    try:
        remove_tree_at(parent_fd, name, ignore_errors=True)
    finally:
        os.close(parent_fd)


def remove_path(path: str | os.PathLike[str]) -> None:
    """Remove the file or tree at ``path`` (missing is fine); the first failure raises."""
    parent, name = os.path.split(os.path.abspath(path))
    parent_fd = os.open(parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        remove_tree_at(parent_fd, name)
    finally:
        os.close(parent_fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree_at(dir_fd: int, name: str, ignore_errors: bool = False) -> None:
    """Remove ``name`` in the directory ``dir_fd`` (a whole tree if it is a directory); a missing
    ``name`` is not an error. With ``ignore_errors`` what cannot be removed is skipped and the rest
    goes; otherwise the first failure raises.

    Without recursion and without following links: ``shutil.rmtree`` recurses once per directory
    level, so a layer that builds a tree a few thousand levels deep would make it fail with
    ``RecursionError``. This walk keeps one open descriptor and a list of pending subdirectory
    names per level, opens each directory with ``O_NOFOLLOW`` relative to its parent (a link swapped
    in meanwhile is not entered), and climbs back with ``..``.
    """
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError:
        if ignore_errors:
            return
        raise
    try:
        stack = [(name, _clear_files(fd, ignore_errors))]
        while stack:
            current, pending = stack[-1]
            if pending:
                child = pending.pop()
                try:
                    child_fd = os.open(child, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    if ignore_errors:
                        continue
                    raise
                os.close(fd)
                fd = child_fd
                stack.append((child, _clear_files(fd, ignore_errors)))
                continue
            stack.pop()
            if stack:
                parent_fd = os.open("..", _DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = parent_fd
                _rmdir(current, fd, ignore_errors)
    finally:
        os.close(fd)
    _rmdir(name, dir_fd, ignore_errors)


def _clear_files(fd: int, ignore_errors: bool) -> list[str]:
    """Unlink every non-directory in the directory ``fd``; return the subdirectory names."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
                continue
            try:
                os.unlink(entry.name, dir_fd=fd)
            except OSError:
                if not ignore_errors:
                    raise
    return subdirs


def _rmdir(name: str, dir_fd: int, ignore_errors: bool) -> None:
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        if not ignore_errors:
            raise
