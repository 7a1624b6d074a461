"""Write changesets and trees as layer blobs (image-spec layer.md), with their digests.

Usage::

    with open("layer.tar.gz", "wb") as out:
        result = pack_tree("rootfs", out)                 # a base layer
    with open("layer2.tar.gz", "wb") as out:
        result = pack_diff("lower", "upper", out)         # a changeset between two trees
    result.diff_id, result.digest, result.size, result.media_type
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from berth.image.layers.changes import Change, ChangeKind, diff_trees, overlay_changes, tree_changes, xattrs
from berth.image.layers.compression import Compression, LayerWriter, Writable
from berth.image.layers.entry import EntryType, TarEntry
from berth.image.layers.tarwriter import TarWriter
from berth.spec.digest import Digest

_TYPES = {
    stat.S_IFREG: EntryType.REGULAR,
    stat.S_IFDIR: EntryType.DIR,
    stat.S_IFLNK: EntryType.SYMLINK,
    stat.S_IFCHR: EntryType.CHAR,
    stat.S_IFBLK: EntryType.BLOCK,
    stat.S_IFIFO: EntryType.FIFO,
}


@dataclass(frozen=True)
class PackResult:
    """A written layer blob's descriptor facts."""

    #: sha256 of the uncompressed tar (config.md#layer-diffid).
    diff_id: Digest
    #: sha256 of the blob as written (the descriptor's digest).
    digest: Digest
    #: Bytes written.
    size: int
    uncompressed_size: int
    media_type: str
    #: Number of tar entries written (whiteouts included).
    entries: int

    @classmethod
    def of(cls, writer: LayerWriter, entries: int) -> PackResult:
        """The facts of the blob ``writer`` has finished writing, which held ``entries`` entries."""
        return cls(
            diff_id=writer.diff_id,
            digest=writer.digest,
            size=writer.size,
            uncompressed_size=writer.uncompressed_size,
            media_type=writer.compression.media_type,
            entries=entries,
        )


def write_layer(
    changes: Iterable[Change],
    out: Writable,
    compression: Compression = Compression.GZIP,
    *,
    level: int | None = None,
    mtime_clamp: int | None = None,
) -> PackResult:
    """Write ``changes`` as a layer blob to ``out``.

    Entries keep their numeric owner, mode, mtime (whole seconds; with ``mtime_clamp``, no later
    than that many seconds since the epoch, as SOURCE_DATE_EPOCH asks), xattrs, link targets and
    device numbers; user and group names are left empty so the bytes depend on the tree only. A
    file with several links is written once and then as hard links to its first path.
    """
    writer = LayerWriter(out, compression, level)
    tar = TarWriter(writer.write)
    seen: dict[tuple[int, int], str] = {}
    count = 0
    try:
        for change in changes:
            count += 1
            if change.kind is not ChangeKind.ADD or change.source is None:
                tar.add(TarEntry(change.archive_name, EntryType.REGULAR, mode=0o644, mtime_ns=0))
                continue
            if not _add(tar, change, seen, mtime_clamp):
                count -= 1
        tar.close()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return PackResult.of(writer, count)


def _add(tar: TarWriter, change: Change, seen: dict[tuple[int, int], str], mtime_clamp: int | None) -> bool:
    """Write one entry; ``False`` for a socket, which tar cannot hold (skipped, as Docker does)."""
    assert change.source is not None
    st = os.lstat(change.source)
    etype = _TYPES.get(stat.S_IFMT(st.st_mode))
    if etype is None:
        return False
    mtime = st.st_mtime_ns // 1_000_000_000
    if mtime_clamp is not None:
        mtime = min(mtime, mtime_clamp)
    entry = TarEntry(
        name=change.path + "/" if etype is EntryType.DIR else change.path,
        type=etype,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=mtime * 1_000_000_000,
        xattrs=xattrs(change.source),
    )
    if etype is EntryType.SYMLINK:
        entry.linkname = os.readlink(change.source)
    elif etype in (EntryType.CHAR, EntryType.BLOCK):
        entry.devmajor, entry.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif etype is EntryType.REGULAR:
        if st.st_nlink > 1:
            first = seen.setdefault((st.st_dev, st.st_ino), change.path)
            if first != change.path:
                entry.type, entry.linkname = EntryType.HARDLINK, first
                tar.add(entry)
                return True
        entry.size = st.st_size
        fd = os.open(change.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            tar.add(entry, fd)
        finally:
            os.close(fd)
        return True
    tar.add(entry)
    return True


def pack_tree(
    root: str | os.PathLike[str],
    out: Writable,
    compression: Compression = Compression.GZIP,
    *,
    level: int | None = None,
    mtime_clamp: int | None = None,
) -> PackResult:
    """Write the whole tree under ``root`` (not the root itself) as a layer blob."""
    return write_layer(tree_changes(root), out, compression, level=level, mtime_clamp=mtime_clamp)


def pack_diff(
    lower: str | os.PathLike[str],
    upper: str | os.PathLike[str],
    out: Writable,
    compression: Compression = Compression.GZIP,
    *,
    level: int | None = None,
    mtime_clamp: int | None = None,
) -> PackResult:
    """Write the changeset from tree ``lower`` to tree ``upper`` as a layer blob."""
    return write_layer(diff_trees(lower, upper), out, compression, level=level, mtime_clamp=mtime_clamp)


def pack_overlay_upper(
    upper: str | os.PathLike[str],
    out: Writable,
    compression: Compression = Compression.GZIP,
    *,
    level: int | None = None,
    mtime_clamp: int | None = None,
) -> PackResult:
    """Write an overlayfs upper directory (a container's changes) as a layer blob."""
    return write_layer(overlay_changes(upper), out, compression, level=level, mtime_clamp=mtime_clamp)
