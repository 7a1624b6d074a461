"""The container's root filesystem, built inside its new mount namespace (config.md#root, #mounts).

``prepare`` does everything before the root switch (propagation, mounts, devices); ``switch_root``
makes the rootfs ``/`` (pivot_root, or MS_MOVE + chroot for ``--no-pivot``); ``finish`` applies
maskedPaths, readonlyPaths, a read-only root and rootfsPropagation, which need the final ``/``.
"""

from __future__ import annotations

import errno
import os

from berth.fsutil import resolve_in_root
from berth.runtime.linux import syscalls as s
from berth.runtime.linux.devices import create_devices, create_symlinks
from berth.runtime.linux.mounts import (
    PROPAGATION,
    ensure_target,
    mount_one,
    parse_options,
    remount_bind,
)
from berth.spec.runtime_config import Mount, RuntimeConfig

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping


def prepare(
    sc: s.Syscalls,
    config: RuntimeConfig,
    rootfs: str,
    bundle: str,
    in_userns: bool,
    private_mounts: bool = True,
    detached_mounts: Mapping[int, int] | None = None,
) -> None:
    """Mount everything the config asks for under ``rootfs`` and populate /dev.

    Without ``private_mounts`` (no mount namespace) the host's propagation is left alone and the mounts land
    in the runtime's own mount table, as with runc; ``delete`` unmounts them. ``detached_mounts``
    maps the index of each mount the runtime prepared itself (idmapped) to its detached mount's fd.
    """
    if private_mounts:
        # config-linux.md#rootfs-mount-propagation: nothing we mount may leak back to the host, so
        # the whole tree becomes a slave (or private) first; ``finish`` sets the final propagation.
        # A shared root propagation (a bidirectional bind mount's) keeps the host's mounts peers, so
        # mounts made in the container under such a bind reach the host; only the parent of the
        # root is made private, so the container's own mounts do not (runc does the same).
        propagation = config.linux.rootfs_propagation
        if propagation in ("shared", "rshared"):
            sc.mount("", "/", "", PROPAGATION["rshared"])
            _parent_mount_private(sc, rootfs)
        else:
            sc.mount(
                "", "/", "", PROPAGATION["rprivate" if propagation in ("private", "rprivate") else "rslave"]
            )
        # pivot_root(2) needs the new root to be a mount point.
        sc.mount(rootfs, rootfs, "", s.MS_BIND | s.MS_REC)
    dev_is_mounted = False
    detached = detached_mounts or {}
    for i, m in enumerate(config.mounts):
        if m.type == "cgroup" or m.type == "cgroup2":
            mount_cgroup(sc, rootfs, m, config.linux.namespace("cgroup") is not None)
        elif m.type == "sysfs" and in_userns:
            mount_sysfs_in_userns(sc, rootfs, bundle, m, config.linux.mount_label)
        else:
            mount_one(sc, rootfs, bundle, m, config.linux.mount_label, detached.get(i, -1))
        dev_is_mounted = dev_is_mounted or m.destination.rstrip("/") == "/dev"
    if dev_is_mounted:
        create_devices(sc, rootfs, config.linux.devices, bind=in_userns)
        create_symlinks(rootfs)
    elif config.linux.devices:
        create_devices(sc, rootfs, config.linux.devices, bind=in_userns)


def _parent_mount_private(sc: s.Syscalls, rootfs: str) -> None:
    """Make the mount that holds ``rootfs`` private if it is shared (proc(5) mountinfo's optional
    ``shared:N`` field), so the root's bind mount and what is mounted in it stay in the container."""
    best, shared = "", False
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # octal escapes of spaces and such
            inside = rootfs == point or rootfs.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, shared = point, any(f.startswith("shared:") for f in fields[6 : fields.index("-")])
    if shared:
        sc.mount("", best, "", s.MS_PRIVATE)


def mount_sysfs_in_userns(sc: s.Syscalls, rootfs: str, bundle: str, m: Mount, mount_label: str) -> None:
    """A sysfs for a container in a user namespace. The kernel mounts one only for the owner of
    the network namespace: a container that joined a namespace made outside its user namespace (a
    pod's, made by the engine before CNI) gets the host's /sys bound read-only instead, as runc
    does."""
    try:
        mount_one(sc, rootfs, bundle, m, mount_label)
    except OSError as err:
        if err.errno != errno.EPERM:
            raise
        bound = Mount(
            destination=m.destination,
            type="bind",
            source="/sys",
            options=("rbind", "ro", "nosuid", "nodev", "noexec"),
        )
        mount_one(sc, rootfs, bundle, bound, mount_label)


def mount_cgroup(sc: s.Syscalls, rootfs: str, m: Mount, in_cgroupns: bool) -> None:
    """config.md#mounts type ``cgroup``: the container's own cgroups at the destination.

    In a cgroup namespace the kernel roots a fresh cgroup mount at the namespace's cgroup, so each
    host hierarchy is mounted anew; without one, the container's directory of each hierarchy is
    bind-mounted. Cgroup v1 hierarchies sit on a tmpfs, as on the host.
    """
    opts = parse_options(m.options)
    target = resolve_in_root(rootfs, m.destination)
    ensure_target(target, True)
    own = _own_cgroups()
    hierarchies = _host_cgroup_mounts()
    unified_only = all(kind == "cgroup2" for _, kind, _ in hierarchies) or m.type == "cgroup2"
    flags = opts.flags | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC
    if unified_only:
        sc.mount("cgroup2", target, "cgroup2", flags)
        return
    sc.mount("tmpfs", target, "tmpfs", s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC, "mode=755")
    for host_path, kind, options in hierarchies:
        sub = os.path.join(target, os.path.basename(host_path))
        os.makedirs(sub, exist_ok=True)
        if in_cgroupns:
            sc.mount("cgroup", sub, kind, flags, options if kind == "cgroup" else "")
        else:
            key = "" if kind == "cgroup2" else options
            sc.mount(host_path + own.get(key, "/"), sub, "", s.MS_BIND | s.MS_REC)
            if flags & s.MS_RDONLY:
                remount_bind(sc, sub, s.MS_RDONLY)
    if flags & s.MS_RDONLY:
        sc.mount("", target, "", s.MS_REMOUNT | s.MS_RDONLY | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC)


def _host_cgroup_mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, controller options) of each cgroup hierarchy under /sys/fs/cgroup."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index("-")
            fstype, point = fields[sep + 1], fields[4]
            if fstype in ("cgroup", "cgroup2") and point.startswith("/sys/fs/cgroup"):
                supers = [o for o in fields[sep + 3].split(",") if o not in ("rw", "ro")]
                found.append((point, fstype, ",".join(supers)))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per hierarchy, keyed by controller list ('' for cgroup v2)."""
    own = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            own[controllers] = path
    return own


def switch_root(sc: s.Syscalls, rootfs: str, no_pivot: bool, private_mounts: bool = True) -> None:
    """Make ``rootfs`` the process's ``/`` (without a mount namespace of its own, by chroot(2))."""
    os.chdir(rootfs)
    if not private_mounts:
        os.chroot(".")
    elif no_pivot:
        # runc --no-pivot: for roots pivot_root(2) refuses (e.g. ramfs); weaker, as the host
        # tree stays reachable through the mount namespace.
        sc.mount(rootfs, "/", "", s.MS_MOVE)
        os.chroot(".")
    else:
        # pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only rootfs.
        # The old root is reached through an fd taken before: "." is the new root, whose mounts
        # (a bidirectional bind's) must keep their propagation (runc does the same).
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.pivot_root(".", ".")
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        sc.mount("", ".", "", PROPAGATION["rslave"])
        sc.umount2(".", s.MNT_DETACH)
    os.chdir("/")


def unmount_under(sc: s.Syscalls, rootfs: str) -> None:
    """Detach every mount at or below ``rootfs`` in this mount namespace, deepest first (what a
    container without a mount namespace of its own left in the runtime's)."""
    points = []
    with open("/proc/self/mountinfo", "rb") as fh:
        for line in fh:
            point = line.split()[4].decode()
            point = point.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            point = point.replace("\\134", "\\")
            if point == rootfs or point.startswith(rootfs.rstrip("/") + "/"):
                points.append(point)
    for point in reversed(points):
        try:
            sc.umount2(point, s.MNT_DETACH)
        except OSError:
            continue  # gone already with its parent


def finish(sc: s.Syscalls, config: RuntimeConfig) -> None:
    """Steps that need the final root: masked and read-only paths, read-only root, propagation."""
    lx = config.linux
    for path in lx.masked_paths:
        mask_path(sc, path)
    for path in lx.readonly_paths:
        readonly_path(sc, path)
    if config.root.readonly:
        remount_bind(sc, "/", s.MS_RDONLY)
    if lx.rootfs_propagation:
        sc.mount("", "/", "", PROPAGATION[lx.rootfs_propagation])


def mask_path(sc: s.Syscalls, path: str) -> None:
    """config-linux.md#masked-paths: hide a file behind /dev/null, a directory behind an empty ro tmpfs."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        sc.mount("tmpfs", path, "tmpfs", s.MS_RDONLY, "size=0k")
    else:
        sc.mount("/dev/null", path, "", s.MS_BIND)


def readonly_path(sc: s.Syscalls, path: str) -> None:
    """config-linux.md#readonly-paths: bind the path onto itself and make that mount read-only."""
    if not os.path.lexists(path):
        return
    sc.mount(path, path, "", s.MS_BIND | s.MS_REC)
    remount_bind(sc, path, s.MS_RDONLY)
