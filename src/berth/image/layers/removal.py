"""Removing directory trees of any depth without recursion and without following symlinks.

``shutil.rmtree`` recurses once per directory level, so a layer that builds a tree a few thousand
levels deep would make it fail with ``RecursionError``; this walk keeps one open fd and a list of
pending subdirectory names per level, and climbs back with ``..``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _clear_files(fd: int) -> list[str]:
    """Unlink every non-directory in the directory ``fd``; return the subdirectory names."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdirs


def remove_tree(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the directory ``dir_fd`` (a whole tree if it is a directory); a
    missing ``name`` is not an error."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        stack = [(name, _clear_files(fd))]
        while stack:
            current, pending = stack[-1]
            if pending:
                child = pending.pop()
                child_fd = os.open(child, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child_fd
                stack.append((child, _clear_files(fd)))
                continue
            stack.pop()
            if stack:
                parent_fd = os.open("..", _DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = parent_fd
                os.rmdir(current, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def remove_path(path: str | os.PathLike[str]) -> None:
    """Remove the file or tree at ``path`` (missing is fine)."""
    target = Path(path)
    parent_fd = os.open(target.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        remove_tree(parent_fd, target.name)
    finally:
        os.close(parent_fd)
