"""Apply a layer to a directory (image-spec layer.md#applying-changesets).

One pass over the blob: decompress, hash (digest and diffID), parse and write. Every path is
confined to the root (see ``_rootdir``); whiteouts delete from the lower layers already in the
root, or, in overlay mode, become overlayfs whiteouts so each layer can live in its own directory
as a lower layer of an overlay mount.

Usage::

    with open(blob_path, "rb") as blob:
        result = apply_layer(blob, "/var/lib/berth/snapshots/x/fs", media_type=desc.media_type)
    result.diff_id  # check it against the image config's rootfs.diff_ids
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth.errors import BerthError, NotFound
from berth.fsutil import remove_tree_at
from berth.image.layers._rootdir import RootDir, clean_name
from berth.image.layers.compression import Compression, LayerReader
from berth.image.layers.entry import EntryType, TarEntry
from berth.image.layers.errors import InvalidLayer
from berth.image.layers.tarreader import TarReader
from berth.image.layers.whiteout import (
    OPAQUE_WHITEOUT,
    OVERLAY_OPAQUE_XATTR,
    WHITEOUT_META_PREFIX,
    WHITEOUT_PREFIX,
)
from berth.spec.digest import Digest


class LayerWriteError(BerthError):
    """An entry of a valid layer could not be written (disk full, permission denied, ...)."""


class _Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ApplyResult:
    """What applying a layer learned about it."""

    #: sha256 of the uncompressed tar (config.md#layer-diffid).
    diff_id: Digest
    #: sha256 of the blob as read (the descriptor's digest).
    digest: Digest
    #: Bytes of the blob as read.
    size: int
    #: Bytes of the uncompressed tar stream.
    uncompressed_size: int
    compression: Compression
    #: Number of tar entries (whiteouts included).
    entries: int


def apply_layer(
    blob: _Readable,
    root: str | os.PathLike[str],
    *,
    media_type: str | None = None,
    overlay: bool = False,
    lowers: Sequence[str | os.PathLike[str]] = (),
    same_owner: bool | None = None,
    root_entry: bool = False,
) -> ApplyResult:
    """Apply the layer read from ``blob`` to the directory ``root``; return its digests.

    The compression is recognised from the blob's first bytes; if ``media_type`` is given it must
    be a layer type whose compression agrees. With ``overlay=True`` whiteouts become overlayfs
    whiteouts (0/0 character devices, ``trusted.overlay.opaque=y``) as for a snapshot directory
    that will be a lower layer, and ``lowers`` (the layers below, top first) lend their metadata
    to parent directories the layer does not carry. ``same_owner`` (default: when running as
    root) sets each entry's numeric uid/gid. With ``root_entry`` the archive's own root entry
    (``./``) gives ``root`` its owner, mode and xattrs (as ADD of an archive does in buildah).

    Raises ``InvalidLayer`` (``UnsafeLayerEntry`` for an entry that would reach outside ``root``)
    naming the entry, ``Unsupported`` for GNU sparse format 0.0, ``LayerWriteError`` when the disk
    refuses, ``NotFound`` if ``root`` is not a directory.
    Nothing outside ``root`` is touched in any case, but ``root`` may hold a partial layer after
    a failure: unpack into a scratch directory and rename it into place (``Snapshotter`` does).
    """
    reader = LayerReader(blob)
    if media_type is not None:
        declared = Compression.from_media_type(media_type)
        if declared is not Compression.NONE and declared is not reader.compression:
            raise InvalidLayer(f"media type {media_type} but the blob is {reader.compression.value}")
    mkdir = _LowerMetadataMkdir([Path(p) for p in lowers]) if overlay and lowers else None
    try:
        applier = _Applier(root, overlay, os.geteuid() == 0 if same_owner is None else same_owner, mkdir)
        applier.root_entry = root_entry
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"cannot apply a layer to {os.fspath(root)!r}: not a directory") from None
    chunks = reader.chunks()
    try:
        tar = TarReader(chunks)
        count = 0
        for entry in tar:
            count += 1
            applier.apply(entry, tar)
        applier.finish()
    finally:
        chunks.close()  # stops the inflate thread now, not whenever the generator is collected
        applier.close()
    return ApplyResult(
        diff_id=reader.diff_id,
        digest=reader.digest,
        size=reader.size,
        uncompressed_size=reader.uncompressed_size,
        compression=reader.compression,
        entries=count,
    )


class _LowerMetadataMkdir:
    """Creates a missing parent directory with the owner and mode it has in the lower layers, so
    the overlay's merged view keeps them (an upper directory's metadata wins)."""

    def __init__(self, lowers: list[Path]) -> None:
        self._lowers = lowers

    def __call__(self, parent_fd: int, name: str, path: str) -> None:
        os.mkdir(name, 0o755, dir_fd=parent_fd)
        for lower in self._lowers:
            st = _lstat_no_symlinks(lower, path)
            if st is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                os.chown(name, st.st_uid, st.st_gid, dir_fd=parent_fd, follow_symlinks=False)
                os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=parent_fd)
            return  # the topmost layer with this path decides, whatever it holds there


def _lstat_no_symlinks(top: Path, path: str) -> os.stat_result | None:
    """lstat ``top/path`` if every directory on the way is a real directory (a lower layer's
    symlink is never followed, so its metadata cannot come from outside that layer)."""
    current = top
    st = None
    for comp in path.split("/"):
        if st is not None and not stat.S_ISDIR(st.st_mode):
            return None
        current = current / comp
        try:
            st = os.lstat(current)
        except OSError:
            return None
    return st


def _proc_path(dir_fd: int, name: str) -> str:
    # Acts on ``name`` inside an already-confined directory fd, for calls without dir_fd forms.
    return f"/proc/self/fd/{dir_fd}/{name}"


class _Applier:
    def __init__(
        self, root: str | os.PathLike[str], overlay: bool, same_owner: bool, mkdir: Callable[..., None] | None
    ) -> None:
        self.root = RootDir(root, mkdir) if mkdir is not None else RootDir(root)
        self.overlay = overlay
        self.same_owner = same_owner
        self.created: set[str] = set()  # paths this layer wrote (whiteouts never hide these)
        self.dir_times: dict[tuple[str, ...], tuple[int, int]] = {}
        self.root_entry = False  # whether the root entry's metadata is the root's

    def close(self) -> None:
        self.root.close()

    # -- dispatch ---------------------------------------------------------------------------

    def apply(self, entry: TarEntry, tar: TarReader) -> None:
        self.root.recycle()
        parts = clean_name(entry.name)
        if not parts:
            # The root itself: in a layer its owner and mode belong to the snapshot, not the layer.
            if self.root_entry and entry.type is EntryType.DIR:
                self._fd_metadata(entry, self.root.fd, times=False)
            return
        base = parts[-1]
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(entry, parts)
                return
            self.created.add("/".join(parts))
            pfd = self.root.dir(parts[:-1], entry.name)
            assert pfd is not None
            kind = entry.type
            if kind is EntryType.REGULAR:
                self._regular(entry, pfd, base, tar)
            elif kind is EntryType.DIR:
                self._directory(entry, pfd, base, parts)
            elif kind is EntryType.SYMLINK:
                self._replace(pfd, base, lambda: os.symlink(entry.linkname, base, dir_fd=pfd))
                self._metadata(entry, pfd, base, symlink=True)
            elif kind is EntryType.HARDLINK:
                self._hardlink(entry, pfd, base)
            else:
                self._special(entry, pfd, base)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise LayerWriteError(f"layer entry {entry.name!r}: {err.strerror}") from None
            raise InvalidLayer(f"layer entry {entry.name!r}: {err.strerror}") from None

    def finish(self) -> None:
        """Set directory times last: writing children changed them (layer.md: mtimes apply)."""
        for parts, (atime, mtime) in reversed(self.dir_times.items()):
            pfd = self.root.dir(parts[:-1], "/".join(parts), create=False)
            if pfd is not None:
                with contextlib.suppress(FileNotFoundError):  # removed again later in the layer
                    os.utime(parts[-1], ns=(atime, mtime), dir_fd=pfd, follow_symlinks=False)

    # -- entry kinds ------------------------------------------------------------------------

    def _replace(self, pfd: int, name: str, make: Callable[[], object], keep_dir: bool = False) -> bool:
        """Run ``make``; if ``name`` exists, remove it first (unless it is a directory and
        ``keep_dir``). Returns whether an existing directory was kept."""
        try:
            make()
            return False
        except FileExistsError:
            pass
        if keep_dir and stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
            return True
        remove_tree_at(pfd, name)
        self.root.invalidate()
        make()
        return False

    def _regular(self, entry: TarEntry, pfd: int, name: str, tar: TarReader) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fds: list[int] = []
        self._replace(pfd, name, lambda: fds.append(os.open(name, flags, 0o600, dir_fd=pfd)))
        fd = fds[0]
        try:
            tar.write_data(fd)
            self._fd_metadata(entry, fd)
        finally:
            os.close(fd)

    def _directory(self, entry: TarEntry, pfd: int, name: str, parts: tuple[str, ...]) -> None:
        self._replace(pfd, name, lambda: os.mkdir(name, 0o700, dir_fd=pfd), keep_dir=True)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._fd_metadata(entry, fd, times=False)
        finally:
            os.close(fd)
        self.dir_times.pop(parts, None)
        self.dir_times[parts] = (entry.atime_ns or entry.mtime_ns, entry.mtime_ns)

    def _hardlink(self, entry: TarEntry, pfd: int, name: str) -> None:
        target = clean_name(entry.linkname, "hard link target")
        if not target:
            raise InvalidLayer(f"layer entry {entry.name!r}: hard link to the root")
        tfd = self.root.dir(target[:-1], entry.name, create=False)
        if tfd is None or not _exists(tfd, target[-1]):
            raise InvalidLayer(f"layer entry {entry.name!r}: hard link target {entry.linkname!r} not found")
        if target == clean_name(entry.name):
            return  # a link to itself: already there
        # linkat without AT_SYMLINK_FOLLOW: the link is to the target entry itself, never through it.
        self._replace(
            pfd,
            name,
            lambda: os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False),
        )

    def _special(self, entry: TarEntry, pfd: int, name: str) -> None:
        fmt = {EntryType.CHAR: stat.S_IFCHR, EntryType.BLOCK: stat.S_IFBLK, EntryType.FIFO: stat.S_IFIFO}
        device = os.makedev(entry.devmajor, entry.devminor) if entry.type is not EntryType.FIFO else 0
        self._replace(pfd, name, lambda: os.mknod(name, fmt[entry.type] | 0o600, device, dir_fd=pfd))
        self._metadata(entry, pfd, name, symlink=False)

    # -- metadata ---------------------------------------------------------------------------

    def _fd_metadata(self, entry: TarEntry, fd: int, times: bool = True) -> None:
        # chown before chmod (chown clears setuid/setgid) and before xattrs (it clears
        # security.capability).
        if self.same_owner:
            os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode)
        for key, value in entry.xattrs.items():
            _set_xattr(fd, key, value)
        if times:
            os.utime(fd, ns=(entry.atime_ns or entry.mtime_ns, entry.mtime_ns))

    def _metadata(self, entry: TarEntry, pfd: int, name: str, symlink: bool) -> None:
        if self.same_owner:
            os.chown(name, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
        if not symlink:  # symlinks have no mode of their own on Linux
            os.chmod(name, entry.mode, dir_fd=pfd)
        for key, value in entry.xattrs.items():
            _set_xattr(_proc_path(pfd, name), key, value)
        os.utime(
            name, ns=(entry.atime_ns or entry.mtime_ns, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False
        )

    # -- whiteouts (layer.md#whiteouts) -----------------------------------------------------

    def _whiteout(self, entry: TarEntry, parts: tuple[str, ...]) -> None:
        base, parent = parts[-1], parts[:-1]
        if base == OPAQUE_WHITEOUT:
            self._opaque(entry, parent)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping (e.g. .wh..wh.plnk), not part of the filesystem
        name = base[len(WHITEOUT_PREFIX) :]
        if name in ("", ".", ".."):
            raise InvalidLayer(f"layer entry {entry.name!r}: whiteout of nothing")
        target = "/".join((*parent, name))
        if target in self.created:
            return  # layer.md: a whiteout hides only lower layers, never its own layer's entries
        pfd = self.root.dir(parent, entry.name, create=self.overlay)
        if pfd is None:
            return
        if self.overlay:
            # overlayfs whiteout: a 0/0 character device of the same name.
            self._replace(pfd, name, lambda: os.mknod(name, stat.S_IFCHR, 0, dir_fd=pfd))
            if self.same_owner:
                os.chown(name, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
        else:
            remove_tree_at(pfd, name)
            self.root.invalidate()

    def _opaque(self, entry: TarEntry, parts: tuple[str, ...]) -> None:
        if not parts:
            raise InvalidLayer(f"layer entry {entry.name!r}: the root cannot be opaque")
        pfd = self.root.dir(parts[:-1], entry.name)
        assert pfd is not None
        name = parts[-1]
        self._replace(pfd, name, lambda: os.mkdir(name, 0o755, dir_fd=pfd), keep_dir=True)
        if self.overlay:
            os.setxattr(_proc_path(pfd, name), OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._clear_lower(fd, "/".join(parts))
        finally:
            os.close(fd)
        self.root.invalidate()

    def _clear_lower(self, dfd: int, path: str) -> None:
        """Remove every entry below the directory ``dfd`` that this layer did not write (the
        directories it wrote are searched in turn, without recursion)."""
        pending: list[tuple[int, str]] = [(os.dup(dfd), path)]
        try:
            while pending:
                fd, current = pending.pop()
                try:
                    for child in os.listdir(fd):
                        child_path = f"{current}/{child}"
                        if child_path not in self.created:
                            remove_tree_at(fd, child)
                        elif stat.S_ISDIR(os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode):
                            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                            pending.append((os.open(child, flags, dir_fd=fd), child_path))
                finally:
                    os.close(fd)
        finally:
            for fd, _ in pending:
                os.close(fd)


def _set_xattr(target: int | str, key: str, value: bytes) -> None:
    """Set an xattr (never following a symlink); skipped where the filesystem cannot hold it."""
    try:
        if isinstance(target, int):
            os.setxattr(target, key, value)
        else:
            os.setxattr(target, key, value, follow_symlinks=False)
    except OSError as err:
        if err.errno != errno.EOPNOTSUPP:
            raise


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
