"""Helpers for layer tests: build varied trees, describe trees for comparison, craft tar layers."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import zstandard

_OVERLAY = "trusted.overlay."


def describe(root: Path, dir_mtimes: bool = True) -> dict[str, object]:
    """Every entry below ``root`` (root excluded) with type, mode, owner, content hash, link target,
    device, xattrs and mtime in seconds; plus the groups of hard-linked paths."""
    entries: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            fmt = stat.S_IFMT(st.st_mode)
            content: object = None
            if fmt == stat.S_IFREG:
                content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, set()).add(rel)
            elif fmt == stat.S_IFLNK:
                content = os.readlink(path)
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            xattrs = {
                k: os.getxattr(path, k, follow_symlinks=False)
                for k in sorted(os.listxattr(path, follow_symlinks=False))
                if not k.startswith(_OVERLAY)
            }
            mtime = None if fmt == stat.S_IFDIR and not dir_mtimes else int(st.st_mtime)
            mode = 0 if fmt == stat.S_IFLNK else stat.S_IMODE(st.st_mode)
            entries[rel] = (fmt, mode, st.st_uid, st.st_gid, content, xattrs, mtime)
    links = sorted(sorted(group) for group in inodes.values() if len(group) > 1)
    return {"entries": entries, "links": links}


def populate(root: Path) -> Path:
    """A tree with every kind of entry a layer can hold, odd names, owners, modes and xattrs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("berth\n")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(os.urandom(200_000))
    os.chmod(root / "bin/tool", 0o4755)
    os.link(root / "bin/tool", root / "bin/tool-link")
    (root / "bin/sh").symlink_to("tool")
    (root / "bin/abs").symlink_to("/etc/hostname")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "home/user/deep/er/still").mkdir(parents=True)
    (root / "home/user/deep/er/still/file").write_bytes(b"")
    os.chown(root / "home/user", 1000, 1000)
    (root / "home/user/owned").write_text("mine")
    os.chown(root / "home/user/owned", 1000, 2000)
    long_dir = root / ("l" * 120)
    long_dir.mkdir()
    (long_dir / ("n" * 150)).write_text("long name")
    (root / "unicodé ☃").write_text("snow")
    (root / "empty-dir").mkdir()
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.setxattr(root / "etc/hostname", "user.berth", b"value")
    os.setxattr(root / "bin/tool", "security.capability", _cap_net_bind())
    os.setxattr(root / "tmp", "trusted.note", b"dir xattr")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (1_600_000_000, 1_600_000_000), follow_symlinks=False)
    return root


def _cap_net_bind() -> bytes:
    # vfs_cap_data revision 2: permitted = CAP_NET_BIND_SERVICE (bit 10), effective flag set.
    return (0x02000001).to_bytes(4, "little") + (1 << 10).to_bytes(4, "little") + bytes(12)


def make_tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tar of ``members`` (TarInfo, data) as tarfile writes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields: object
) -> tuple[tarfile.TarInfo, bytes]:
    """One tar member; ``fields`` set TarInfo attributes (linkname, mode, uid, pax_headers, ...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_600_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def tar_names(blob: bytes) -> list[str]:
    """Member names of a (possibly compressed) tar blob, in order."""
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return [m.name for m in tar]


def tar_mtimes(blob: bytes) -> set[int]:
    """The distinct member mtimes of a tar blob."""
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return {int(m.mtime) for m in tar}
