"""The storage driver interface of the registry server.

A driver stores opaque byte objects under slash-separated paths, the way an object store (S3 and its
kin) does: whole-object put/get, stat, list of one level, delete of a subtree, move, and streaming
writers that append and then commit. The registry's layout (``layout.py``) is written only against
this interface, so a second backend needs no change above it.
"""

from __future__ import annotations

import abc
import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass

from berth.errors import InvalidArgument, NotFound


class PathNotFound(NotFound):
    """No object or directory exists at a storage path."""


@dataclass(frozen=True)
class FileInfo:
    """What ``stat`` tells about a path."""

    path: str
    size: int
    mtime: float
    is_dir: bool


def check_path(path: str) -> str:
    """Return ``path`` normalised; reject anything that is not an absolute, ``..``-free path."""
    if not path.startswith("/") or "\x00" in path:
        raise InvalidArgument(f"invalid storage path {path!r}")
    parts = path.split("/")[1:]
    if any(p in ("", ".", "..") for p in parts) and path != "/":
        raise InvalidArgument(f"invalid storage path {path!r}")
    return posixpath.normpath(path)


class FileWriter(abc.ABC):
    """A streaming writer of one object; nothing is visible at its path until ``commit``."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Bytes written so far (including any that existed when an append-writer was opened)."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Append ``data``."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Make everything written durable and visible at the writer's path."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Throw away everything written by this writer."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources; an uncommitted append-writer keeps what it wrote for a later append."""


class StorageDriver(abc.ABC):
    """Object storage addressed by absolute, slash-separated paths such as ``/blobs/sha256/ab/...``."""

    @abc.abstractmethod
    async def get_content(self, path: str) -> bytes:
        """The whole object at ``path`` (small objects only: links, manifests); ``PathNotFound``."""

    @abc.abstractmethod
    async def put_content(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` atomically: readers see the old or the new object, never a part."""

    @abc.abstractmethod
    async def stat(self, path: str) -> FileInfo:
        """Size, mtime and kind of ``path``; ``PathNotFound`` if absent."""

    @abc.abstractmethod
    async def list(self, path: str) -> list[str]:
        """Names of the direct children of the directory ``path``, sorted; ``PathNotFound`` if absent."""

    @abc.abstractmethod
    async def delete(self, path: str) -> None:
        """Delete the object or whole subtree at ``path``; ``PathNotFound`` if absent."""

    @abc.abstractmethod
    async def move(self, source: str, dest: str) -> None:
        """Move an object to ``dest`` atomically, replacing any object there."""

    @abc.abstractmethod
    async def writer(self, path: str, append: bool = False) -> FileWriter:
        """A streaming writer for ``path``; with ``append``, continue an earlier uncommitted object."""

    @abc.abstractmethod
    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (all, if None) of the object at ``path`` from ``offset`` in chunks;
        ``PathNotFound`` from the first iteration if it is absent."""

    @abc.abstractmethod
    async def touch(self, path: str) -> None:
        """Set the modification time of ``path`` to now (garbage collection's grace clock)."""
