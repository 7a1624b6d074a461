"""COPY and ADD into a stage's root: files, directories and links with the owner and mode the
instruction asks for (Dockerfile reference, COPY and ADD).

Destinations are resolved inside the root as the container would see them (symbolic links
followed, never out of the root), so a hostile image cannot make a COPY write on the host.

    copy_paths(root, sources, "/app/", Owner(0, 0), chmod=None)
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from berth import fsutil
from berth.errors import InvalidArgument, NotFound


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int
    gid: int


def resolve_in_root(root: Path, path: str) -> Path:
    """``path`` as the container sees it, as a host path that never leaves ``root``
    (``berth.fsutil.resolve_in_root``)."""
    return Path(fsutil.resolve_in_root(str(root), path))


def parse_chown(text: str, root: Path) -> Owner:
    """``--chown=USER[:GROUP]`` as numbers: names are looked up in the root's /etc/passwd and
    /etc/group; without a group, the user's number stands for it (Dockerfile reference, COPY)."""
    user, _, group = text.partition(":")
    uid = _lookup(root, "/etc/passwd", user, "user")
    gid = _lookup(root, "/etc/group", group, "group") if group else uid
    return Owner(uid, gid)


def user_owner(root: Path, user: str) -> Owner:
    """The owner of what is made for ``USER user`` (a WORKDIR): ``USER[:GROUP]`` by names or
    numbers; without a group, the user's group in the root's /etc/passwd, else the uid's number
    (as buildah 1.28 does for a uid with no entry)."""
    name, _, group = (user or "0").partition(":")
    uid, passwd_gid = _passwd_entry(root, name)
    gid = _lookup(root, "/etc/group", group, "group") if group else passwd_gid
    return Owner(uid, uid if gid is None else gid)


def _passwd_entry(root: Path, name: str) -> tuple[int, int | None]:
    """The uid of the user ``name`` (a name or a number) and its group, if the passwd file has it."""
    for fields in _entries(root, "/etc/passwd"):
        if len(fields) > 3 and name in (fields[0], fields[2]) and fields[2].isdigit() and fields[3].isdigit():
            return int(fields[2]), int(fields[3])
    return _lookup(root, "/etc/passwd", name, "user"), None


def _entries(root: Path, table: str) -> list[list[str]]:
    try:
        lines = resolve_in_root(root, table).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    return [line.split(":") for line in lines]


def _lookup(root: Path, table: str, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    for fields in _entries(root, table):
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise InvalidArgument(f"--chown: no {what} {name!r} in the image's {table}")


def make_parents(root: Path, path: str, owner: Owner) -> Path:
    """The directory ``path`` in ``root``, made (0755, ``owner``) with any missing parents."""
    current = "/"
    for part in [p for p in path.split("/") if p]:
        current = posixpath.join(current, part)
        host = resolve_in_root(root, current)
        if not host.exists():
            host.mkdir(mode=0o755)
            os.chown(host, owner.uid, owner.gid)
        elif not host.is_dir():
            raise InvalidArgument(f"{current} is not a directory in the image")
    return resolve_in_root(root, path)


class _Copier:
    def __init__(
        self, root: Path, owner: Owner, chmod: int | None, skip: Callable[[Path], bool] | None
    ) -> None:
        self.root = root
        self.owner = owner
        self.chmod = chmod
        self.skip = skip or (lambda _path: False)

    def entry(self, src: Path, dest: str) -> None:
        """Copy ``src`` (a directory: itself and below) to the container path ``dest``."""
        st = os.lstat(src)
        parent = make_parents(self.root, posixpath.dirname(dest) or "/", self.owner)
        target = parent / posixpath.basename(dest)
        if stat.S_ISDIR(st.st_mode):
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                _remove(target)
            if not target.exists():
                target.mkdir()
            self._finish(target, st)
            self.children(src, dest)
            return
        if target.is_dir() and not target.is_symlink():
            raise InvalidArgument(f"cannot replace directory {dest} with a file")
        if os.path.lexists(target):
            target.unlink()
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), target)
            os.lchown(target, self.owner.uid, self.owner.gid)
            return
        if stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, target, follow_symlinks=False)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(target)
        else:
            return  # devices and sockets have no place in a build context
        self._finish(target, st)

    def children(self, src: Path, dest: str) -> None:
        """Copy what the directory ``src`` holds (``skip`` aside) into the container path ``dest``."""
        for name in sorted(os.listdir(src)):
            if not self.skip(src / name):
                self.entry(src / name, posixpath.join(dest, name))

    def _finish(self, target: Path, st: os.stat_result) -> None:
        os.chown(target, self.owner.uid, self.owner.gid)
        os.chmod(target, self.chmod if self.chmod is not None else stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def copy_paths(
    root: Path,
    sources: Sequence[tuple[Path, str]],
    dest: str,
    owner: Owner,
    chmod: int | None,
    skip: Callable[[Path], bool] | None = None,
) -> None:
    """Copy ``sources`` (host path, name as written) to the container path ``dest`` in ``root``.

    A directory source copies its contents (less what ``skip`` says); several sources, or a
    ``dest`` ending in ``/`` or naming a directory, put each source under ``dest`` by its base name.
    """
    into_dir = dest.endswith("/") or len(sources) > 1 or resolve_in_root(root, dest).is_dir()
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidArgument(f"with more than one source the destination must end in /, not {dest!r}")
    copier = _Copier(root, owner, chmod, skip)
    for src, name in sources:
        if not os.path.lexists(src):
            raise NotFound(f"{name}: no such file or directory")
        if src.is_dir() and not src.is_symlink():
            make_parents(root, dest, owner)
            copier.children(src, dest)
        else:
            base = posixpath.basename(name.rstrip("/")) or posixpath.basename(str(src))
            copier.entry(src, posixpath.join(dest, base) if into_dir else dest.rstrip("/") or "/")


def write_file(root: Path, dest: str, data: bytes, owner: Owner, mode: int) -> None:
    """Write ``data`` to the container path ``dest`` (a heredoc's file, a fetched URL)."""
    parent = make_parents(root, posixpath.dirname(dest) or "/", owner)
    target = parent / posixpath.basename(dest)
    if os.path.lexists(target):
        _remove(target)
    target.write_bytes(data)
    os.chown(target, owner.uid, owner.gid)
    os.chmod(target, mode)
