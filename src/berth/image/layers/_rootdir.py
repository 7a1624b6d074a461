"""A directory that every path of a layer is confined to.

Names are cleaned first (``clean_name``): a name with a ``..`` component or a leading ``/`` is
refused. Parent directories are then resolved inside the root: first with openat2(2) and
``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`` (the kernel refuses any escape), and when that fails
(a missing directory, an absolute symlink, a symlink climbing out, no openat2) by walking one
component at a time with ``O_NOFOLLOW`` from the root's fd. The walk follows symlinks the way the
container will see them: an absolute target restarts at the root, while a relative target that
climbs above the root is refused (``UnsafeLayerEntry``). The last component of a name is never
followed: callers act on it with ``dir_fd=`` calls.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from berth.image.layers import _syscalls
from berth.image.layers.errors import InvalidLayer, UnsafeLayerEntry

_MAX_SYMLINKS = 40  # as the kernel's MAXSYMLINKS
_CACHE_SIZE = 256
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_FAST_RESOLVE = _syscalls.RESOLVE_BENEATH | _syscalls.RESOLVE_NO_MAGICLINKS

#: Called to create a missing directory: (parent fd, name, path from the root).
MakeDir = Callable[[int, str, str], None]


def clean_name(name: str, what: str = "entry") -> tuple[str, ...]:
    """Split an archive name into components, dropping ``.`` and empty ones.

    Raises ``UnsafeLayerEntry`` for absolute names and for names with a ``..`` component.
    """
    if name.startswith("/"):
        raise UnsafeLayerEntry(f"layer {what} {name!r} is an absolute path")
    parts = tuple(p for p in name.split("/") if p and p != ".")
    if ".." in parts:
        raise UnsafeLayerEntry(f"layer {what} {name!r} has a '..' component")
    return parts


def _default_mkdir(parent_fd: int, name: str, _path: str) -> None:
    os.mkdir(name, 0o755, dir_fd=parent_fd)


class RootDir:
    """An open root directory and a small cache of resolved parent directories (O_PATH fds)."""

    def __init__(self, path: str | os.PathLike[str], mkdir: MakeDir = _default_mkdir) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._mkdir = mkdir
        self._cache: dict[tuple[str, ...], int] = {}
        self._retired: list[int] = []  # invalidated fds a caller may still hold until ``recycle``
        self._fast = _syscalls.openat2_available()

    def close(self) -> None:
        """Close the root and every cached fd."""
        self.invalidate()
        self.recycle()
        os.close(self.fd)

    def invalidate(self) -> None:
        """Forget resolved directories (after anything was removed or replaced). The fds stay
        open until ``recycle``, so a caller's fd stays valid while it finishes its entry."""
        self._retired.extend(self._cache.values())
        self._cache.clear()

    def recycle(self) -> None:
        """Close the fds forgotten by ``invalidate`` (call between entries)."""
        for fd in self._retired:
            os.close(fd)
        self._retired.clear()

    def dir(self, parts: tuple[str, ...], name: str, create: bool = True) -> int | None:
        """An O_PATH fd of the directory ``parts`` inside the root (owned by the cache: do not close).

        Missing directories are created when ``create``; otherwise ``None`` is returned. ``name``
        is the entry this is for, used in error messages.
        """
        fd = self._cache.get(parts)
        if fd is not None:
            return fd
        if not parts:
            fd = os.dup(self.fd)
        else:
            fd = self._open_fast(parts)
            if fd is None:
                fd = self._walk(parts, create, name)
                if fd is None:
                    return None
        if len(self._cache) >= _CACHE_SIZE:
            self.invalidate()
        self._cache[parts] = fd
        return fd

    def _open_fast(self, parts: tuple[str, ...]) -> int | None:
        if not self._fast:
            return None
        try:
            return _syscalls.openat2(self.fd, "/".join(parts), _PATH_FLAGS, _FAST_RESOLVE)
        except OSError as err:
            if err.errno in (
                errno.ENOENT,
                errno.EXDEV,
                errno.ELOOP,
                errno.ENOTDIR,
                errno.EAGAIN,
                errno.ENAMETOOLONG,
            ):
                return None  # let the walk create, follow in scope, or explain
            raise

    def _walk(self, parts: tuple[str, ...], create: bool, name: str) -> int | None:
        """Resolve ``parts`` one component at a time (see the module docstring for the rules)."""
        todo = list(reversed(parts))
        stack = [os.dup(self.fd)]  # fds of the directories from the root down
        names: list[str] = []  # their names, for the mkdir hook
        links = 0
        try:
            while todo:
                comp = todo.pop()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if len(stack) == 1:
                        raise UnsafeLayerEntry(f"layer entry {name!r}: a symlink leads outside the root")
                    os.close(stack.pop())
                    names.pop()
                    continue
                cur = stack[-1]
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        return None
                    self._mkdir(cur, comp, "/".join([*names, comp]))
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > _MAX_SYMLINKS:
                        raise UnsafeLayerEntry(f"layer entry {name!r}: too many levels of symlinks")
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):  # absolute: relative to the container's root
                        for fd in stack[1:]:
                            os.close(fd)
                        del stack[1:]
                        names.clear()
                    todo.extend(reversed(target.split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise InvalidLayer(f"layer entry {name!r}: {'/'.join([*names, comp])} is not a directory")
                stack.append(os.open(comp, _PATH_FLAGS | os.O_NOFOLLOW, dir_fd=cur))
                names.append(comp)
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)
