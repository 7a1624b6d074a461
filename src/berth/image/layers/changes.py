"""Changesets (image-spec layer.md#changesets): what a layer must record to turn one tree into
another, as a sorted stream of ``Change`` records that ``pack.write_layer`` turns into a tar.

Three sources: a whole tree (``tree_changes``), the difference of two trees (``diff_trees``), and
an overlayfs upper directory (``overlay_changes``), where whiteouts are 0/0 character devices and
opaque directories carry ``trusted.overlay.opaque=y``.

Order is deterministic: depth first, each directory before its children, an opaque marker first
among them (layer.md#opaque-whiteout: before sibling entries), then names in byte order.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

from berth.image.layers.whiteout import (
    OPAQUE_WHITEOUT,
    OVERLAY_OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIX,
    WHITEOUT_PREFIX,
)


class ChangeKind(enum.Enum):
    """What a changeset entry does."""

    #: Add or replace the entry at ``path`` with the one at ``source``.
    ADD = "add"
    #: Remove ``path`` of the lower layers (written as ``.wh.<name>``).
    WHITEOUT = "whiteout"
    #: Hide every lower child of the directory ``path`` (written as ``.wh..wh..opq``).
    OPAQUE = "opaque"


@dataclass(frozen=True, slots=True)
class Change:
    """One changeset entry: ``path`` is relative to the root, without a leading slash."""

    path: str
    kind: ChangeKind
    source: str | None = None

    @property
    def archive_name(self) -> str:
        """The tar name this change is written under."""
        if self.kind is ChangeKind.ADD:
            return self.path
        if self.kind is ChangeKind.OPAQUE:
            return f"{self.path}/{OPAQUE_WHITEOUT}"
        head, _, base = self.path.rpartition("/")
        return f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _names(path: str) -> list[str]:
    return sorted(os.listdir(path), key=os.fsencode)


def xattrs(path: str) -> dict[str, bytes]:
    """An entry's extended attributes (not following symlinks), without overlayfs bookkeeping."""
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}  # filesystems without xattr support
    return {
        key: os.getxattr(path, key, follow_symlinks=False)
        for key in sorted(keys)
        if not key.startswith(OVERLAY_XATTR_PREFIX)
    }


# Each directory is visited by a flat generator that yields its changes and, to descend, the
# (not yet started) generator of a subdirectory; ``_depth_first`` runs them with an explicit stack,
# so a tree thousands of levels deep needs no Python recursion.
_Steps: TypeAlias = Iterator["Change | _Steps"]


def _depth_first(first: _Steps) -> Iterator[Change]:
    stack = [first]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
        elif isinstance(step, Change):
            yield step
        else:
            stack.append(step)


def tree_changes(root: str | os.PathLike[str]) -> Iterator[Change]:
    """Every entry below ``root`` as an addition (the root itself excluded)."""
    return _depth_first(_added(os.fspath(root), ""))


def _added(top: str, rel: str) -> _Steps:
    base = _join(top, rel) if rel else top
    for name in _names(base):
        child = _join(rel, name)
        source = os.path.join(base, name)
        yield Change(child, ChangeKind.ADD, source)
        if stat.S_ISDIR(os.lstat(source).st_mode):
            yield _added(top, child)


def _same(lower: str, lst: os.stat_result, upper: str, ust: os.stat_result) -> bool:
    """Whether two entries are equal as a layer records them. Like containerd's walk, regular
    files of equal size, mtime (to the nanosecond) and link count are taken as equal without
    reading them."""
    if (lst.st_mode, lst.st_uid, lst.st_gid, lst.st_mtime_ns) != (
        ust.st_mode,
        ust.st_uid,
        ust.st_gid,
        ust.st_mtime_ns,
    ):
        return False
    fmt = stat.S_IFMT(ust.st_mode)
    if fmt == stat.S_IFREG and (lst.st_size, lst.st_nlink) != (ust.st_size, ust.st_nlink):
        return False
    if fmt == stat.S_IFLNK and os.readlink(lower) != os.readlink(upper):
        return False
    if fmt in (stat.S_IFCHR, stat.S_IFBLK) and lst.st_rdev != ust.st_rdev:
        return False
    return xattrs(lower) == xattrs(upper)


def diff_trees(lower: str | os.PathLike[str], upper: str | os.PathLike[str]) -> Iterator[Change]:
    """The changeset that turns the tree ``lower`` into the tree ``upper`` (layer.md#changesets):
    additions and modifications as ``ADD``, removals as ``WHITEOUT``."""
    return _depth_first(_diff_dir(os.fspath(lower), os.fspath(upper), ""))


def _diff_dir(lower: str, upper: str, rel: str) -> _Steps:
    ldir, udir = _join(lower, rel) if rel else lower, _join(upper, rel) if rel else upper
    lower_names = set(os.listdir(ldir))
    upper_names = _names(udir)
    events: list[tuple[bytes, str, bool]] = [(os.fsencode(n), n, False) for n in upper_names]
    events += [(os.fsencode(WHITEOUT_PREFIX + n), n, True) for n in lower_names.difference(upper_names)]
    for _key, name, removed in sorted(events):
        child = _join(rel, name)
        if removed:
            yield Change(child, ChangeKind.WHITEOUT)
            continue
        usrc, lsrc = os.path.join(udir, name), os.path.join(ldir, name)
        ust = os.lstat(usrc)
        is_dir = stat.S_ISDIR(ust.st_mode)
        if name in lower_names:
            lst = os.lstat(lsrc)
            if not _same(lsrc, lst, usrc, ust):
                yield Change(child, ChangeKind.ADD, usrc)
            if is_dir and stat.S_ISDIR(lst.st_mode):
                yield _diff_dir(lower, upper, child)
                continue
        else:
            yield Change(child, ChangeKind.ADD, usrc)
        if is_dir:  # new, or replaces a non-directory: everything below is new
            yield _added(upper, child)


def overlay_changes(upper: str | os.PathLike[str]) -> Iterator[Change]:
    """The changeset an overlayfs upper directory holds: its entries as ``ADD``, 0/0 character
    devices as ``WHITEOUT``, directories with ``trusted.overlay.opaque=y`` as ``ADD`` + ``OPAQUE``.

    Assumes the overlay was mounted without ``redirect_dir`` and ``metacopy`` (as ``Snapshotter``
    mounts it), so every upper entry is complete.
    """
    return _depth_first(_overlay_dir(os.fspath(upper), ""))


def _overlay_dir(top: str, rel: str) -> _Steps:
    base = _join(top, rel) if rel else top
    for name in _names(base):
        child, source = _join(rel, name), os.path.join(base, name)
        st = os.lstat(source)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            yield Change(child, ChangeKind.WHITEOUT)
            continue
        yield Change(child, ChangeKind.ADD, source)
        if stat.S_ISDIR(st.st_mode):
            try:
                opaque = os.getxattr(source, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
            except OSError:
                opaque = False
            if opaque:
                yield Change(child, ChangeKind.OPAQUE)
            yield _overlay_dir(top, child)
