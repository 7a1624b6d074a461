"""One ``mounts`` entry onto the container root: option parsing, safe target paths, mount(2) calls.

config.md#mounts: options are mount(8) words; those that are mount flags become flags, propagation
words are applied with a separate call (the kernel takes propagation changes alone), and anything
else is passed to the filesystem as data.
"""

from __future__ import annotations

import os
import stat

from berth.errors import InvalidArgument
from berth.fsutil import resolve_in_root
from berth.runtime.linux import syscalls as s
from berth.runtime.linux.lsm import mount_data
from berth.spec.runtime_config import Mount
from berth.spec.runtime_record import Record

#: mount(8) option word -> (flags it clears, flags it sets).
MOUNT_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (0, s.MS_RDONLY), "rw": (s.MS_RDONLY, 0),
    "nosuid": (0, s.MS_NOSUID), "suid": (s.MS_NOSUID, 0),
    "nodev": (0, s.MS_NODEV), "dev": (s.MS_NODEV, 0),
    "noexec": (0, s.MS_NOEXEC), "exec": (s.MS_NOEXEC, 0),
    "sync": (0, s.MS_SYNCHRONOUS), "async": (s.MS_SYNCHRONOUS, 0),
    "dirsync": (0, s.MS_DIRSYNC), "remount": (0, s.MS_REMOUNT),
    "mand": (0, s.MS_MANDLOCK), "nomand": (s.MS_MANDLOCK, 0),
    "noatime": (0, s.MS_NOATIME), "atime": (s.MS_NOATIME, 0),
    "nodiratime": (0, s.MS_NODIRATIME), "diratime": (s.MS_NODIRATIME, 0),
    "relatime": (0, s.MS_RELATIME), "norelatime": (s.MS_RELATIME, 0),
    "strictatime": (0, s.MS_STRICTATIME), "nostrictatime": (s.MS_STRICTATIME, 0),
    "lazytime": (0, s.MS_LAZYTIME), "nolazytime": (s.MS_LAZYTIME, 0),
    "nosymfollow": (0, s.MS_NOSYMFOLLOW), "symfollow": (s.MS_NOSYMFOLLOW, 0),
    "silent": (0, s.MS_SILENT), "loud": (s.MS_SILENT, 0),
    "bind": (0, s.MS_BIND), "rbind": (0, s.MS_BIND | s.MS_REC),
    "defaults": (0, 0),
}  # fmt: skip

PROPAGATION: dict[str, int] = {
    "private": s.MS_PRIVATE, "rprivate": s.MS_PRIVATE | s.MS_REC,
    "shared": s.MS_SHARED, "rshared": s.MS_SHARED | s.MS_REC,
    "slave": s.MS_SLAVE, "rslave": s.MS_SLAVE | s.MS_REC,
    "unbindable": s.MS_UNBINDABLE, "runbindable": s.MS_UNBINDABLE | s.MS_REC,
}  # fmt: skip

#: runtime-spec config.md#mounts recursive options -> (MOUNT_ATTR_* cleared, set) on the whole tree,
#: applied with mount_setattr(2) AT_RECURSIVE after the mount.
RECURSIVE_ATTRS: dict[str, tuple[int, int]] = {
    "rro": (0, s.MOUNT_ATTR_RDONLY), "rrw": (s.MOUNT_ATTR_RDONLY, 0),
    "rnosuid": (0, s.MOUNT_ATTR_NOSUID), "rsuid": (s.MOUNT_ATTR_NOSUID, 0),
    "rnodev": (0, s.MOUNT_ATTR_NODEV), "rdev": (s.MOUNT_ATTR_NODEV, 0),
    "rnoexec": (0, s.MOUNT_ATTR_NOEXEC), "rexec": (s.MOUNT_ATTR_NOEXEC, 0),
    "rnosymfollow": (0, s.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (s.MOUNT_ATTR_NOSYMFOLLOW, 0),
}  # fmt: skip

# Flags a bind mount only honours on a second, remounting call (mount(2) "MS_BIND").
_REMOUNT_FLAGS = (
    s.MS_RDONLY | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC | s.MS_NOATIME | s.MS_NODIRATIME | s.MS_RELATIME
    | s.MS_STRICTATIME | s.MS_NOSYMFOLLOW
)  # fmt: skip


class MountOptions(Record):
    """Mount options split the way mount(2) takes them."""

    flags: int
    propagation: tuple[int, ...]
    data: str
    #: MOUNT_ATTR_* to set and to clear recursively (``rro``...), 0 for none
    attr_set: int = 0
    attr_clr: int = 0

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & s.MS_BIND)


def parse_options(options: tuple[str, ...]) -> MountOptions:
    """Split config.md mount ``options`` into flags, propagation changes and filesystem data."""
    flags = attr_set = attr_clr = 0
    propagation: list[int] = []
    data: list[str] = []
    for word in options:
        if word in MOUNT_FLAGS:
            clear, set_ = MOUNT_FLAGS[word]
            flags = (flags & ~clear) | set_
        elif word in RECURSIVE_ATTRS:
            clear, set_ = RECURSIVE_ATTRS[word]
            attr_set, attr_clr = (attr_set & ~clear) | set_, (attr_clr & ~set_) | clear
        elif word in PROPAGATION:
            propagation.append(PROPAGATION[word])
        elif word in ("idmap", "ridmap"):
            continue  # config.md#mounts: not for mount(2); berth.runtime.linux.idmap applies them
        elif word.startswith("idmap") or word.startswith("ridmap"):
            raise InvalidArgument(f"mount option {word!r} is not supported")
        else:
            data.append(word)
    return MountOptions(flags, tuple(propagation), ",".join(data), attr_set, attr_clr)


def ensure_target(target: str, source_is_dir: bool) -> None:
    """Create the mount point: a directory, or an empty file when mounting a non-directory."""
    if os.path.lexists(target):
        return
    parent = os.path.dirname(target)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if source_is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return True


def mount_one(
    sc: s.Syscalls, rootfs: str, bundle: str, m: Mount, mount_label: str = "", detached_fd: int = -1
) -> str:
    """Apply one ``mounts`` entry under ``rootfs`` (not yet the root); return the host target path.

    ``mount_label`` is config-linux.md#mount-label, given to the mount types that take one. A bind
    mount the runtime prepared as a detached (idmapped) mount comes as ``detached_fd``."""
    opts = parse_options(m.options)
    target = resolve_in_root(rootfs, m.destination)
    source = m.source
    if detached_fd >= 0:
        ensure_target(target, stat.S_ISDIR(os.fstat(detached_fd).st_mode))
        sc.move_mount(detached_fd, target)
        if opts.flags & _REMOUNT_FLAGS:
            remount_bind(sc, target, opts.flags & _REMOUNT_FLAGS)
    elif opts.is_bind:
        if source and not source.startswith("/"):
            source = os.path.join(bundle, source)  # config.md#mounts: relative to the bundle
        if not os.path.exists(source):
            raise InvalidArgument(f"mount {m.destination}: source {source!r} does not exist")
        ensure_target(target, _is_dir(source))
        sc.mount(source, target, "", opts.flags & (s.MS_BIND | s.MS_REC))
        if opts.flags & _REMOUNT_FLAGS:
            remount_bind(sc, target, opts.flags & _REMOUNT_FLAGS)
    else:
        ensure_target(target, True)
        sc.mount(source or m.type, target, m.type, opts.flags, mount_data(opts.data, m.type, mount_label))
    if opts.attr_set or opts.attr_clr:
        sc.mount_setattr_tree(target, opts.attr_set, opts.attr_clr)
    for propagation in opts.propagation:
        sc.mount("", target, "", propagation)
    return target


def remount_bind(sc: s.Syscalls, target: str, flags: int) -> None:
    """Re-apply flags to an existing bind mount, keeping the flags the kernel locks (nosuid, nodev...).

    In a user namespace a mount's nosuid/nodev/noexec/ro inherited from a more privileged namespace
    are locked: a remount that drops them fails with EPERM, so they are carried over (statvfs).
    """
    current = os.statvfs(target).f_flag
    locked = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, s.MS_NOSUID), (os.ST_NODEV, s.MS_NODEV), (os.ST_NOEXEC, s.MS_NOEXEC),
        (os.ST_RDONLY, s.MS_RDONLY),
    ):  # fmt: skip
        if current & st_flag:
            locked |= ms_flag
    sc.mount("", target, "", s.MS_BIND | s.MS_REMOUNT | flags | (locked & ~s.MS_RDONLY))
