"""The filesystem storage driver: objects are files under a root directory.

Whole-object writes go through a temporary file and a rename (``berth.fsutil.atomic_write``);
streaming writers write to ``<path>.part`` and rename on commit, so a reader never sees a partial
object. Every path is checked by ``driver.check_path`` before it is joined to the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from berth.distribution.storage.driver import (
    FileInfo,
    FileWriter,
    PathNotFound,
    StorageDriver,
    check_path,
)
from berth.fsutil import atomic_write, fsync_dir

_READ_CHUNK = 1 << 20


class FilesystemDriver(StorageDriver):
    """Objects stored as files below ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        return self.root / check_path(path).lstrip("/")

    async def get_content(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(f"no object at {path}") from None

    async def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(full, data)

    async def stat(self, path: str) -> FileInfo:
        try:
            st = self._full(path).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(f"no object at {path}") from None
        is_dir = os.path.isdir(self._full(path))
        return FileInfo(path, 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    async def list(self, path: str) -> list[str]:
        try:
            # Dot-files are this driver's own temporaries (atomic writes, deletions in progress).
            return sorted(n for n in os.listdir(self._full(path)) if not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(f"no directory at {path}") from None

    async def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if full.is_dir() and not full.is_symlink():
                # Rename first so the subtree disappears at once, then remove what it held.
                doomed = full.with_name(f".{full.name}.deleting-{os.getpid()}-{id(full)}")
                os.rename(full, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            else:
                full.unlink()
        except FileNotFoundError:
            raise PathNotFound(f"no object at {path}") from None

    async def move(self, source: str, dest: str) -> None:
        src, dst = self._full(source), self._full(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            raise PathNotFound(f"no object at {source}") from None
        fsync_dir(dst.parent)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        return _FileWriter(full, append)

    async def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        try:
            fh = self._full(path).open("rb", buffering=0)
        except FileNotFoundError:
            raise PathNotFound(f"no object at {path}") from None
        with fh:
            fh.seek(offset)
            left = os.fstat(fh.fileno()).st_size - offset if length is None else length
            while left > 0 and (chunk := fh.read(min(left, _READ_CHUNK))):
                left -= len(chunk)
                yield chunk
                await asyncio.sleep(0)  # let other requests run between chunks of a large object

    async def touch(self, path: str) -> None:
        try:
            os.utime(self._full(path))
        except FileNotFoundError:
            raise PathNotFound(f"no object at {path}") from None


class _FileWriter(FileWriter):
    """Writes ``<path>.part``; ``commit`` fsyncs it and renames it to ``path``."""

    def __init__(self, path: Path, append: bool) -> None:
        self._path = path
        self._part = path.with_name(path.name + ".part")
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        self._fd: int | None = os.open(self._part, flags, 0o644)
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        assert self._fd is not None, "write after close"
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)

    async def commit(self) -> None:
        assert self._fd is not None, "commit after close"
        os.fsync(self._fd)
        await self.close()
        os.rename(self._part, self._path)
        fsync_dir(self._path.parent)

    async def cancel(self) -> None:
        await self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._part)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
