"""Idmapped bind mounts: config.md#mounts ``uidMappings``/``gidMappings`` and options ``idmap``/``ridmap``.

The runtime makes each one before it forks the init, while it still has the host's privileges
(mount_setattr(2) MOUNT_ATTR_IDMAP wants them; an init already in a new user namespace lacks them):
open_tree(2) clones the source as a detached mount, mount_setattr(2) maps its ids through a user
namespace holding the mappings, and the init, which inherits the fd, attaches it at the destination
with move_mount(2). A user namespace to carry the mappings comes from a short-lived child that
unshares one and whose maps the runtime writes.

Only bind mounts are idmapped (runtime-spec features-linux.md allows such a partial implementation).
"""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument
from berth.runtime.linux import namespaces
from berth.runtime.linux import syscalls as s
from berth.runtime.linux.mounts import parse_options
from berth.spec.runtime_config import IDMapping, Mount, RuntimeConfig

#: uid and gid mappings as (containerID, hostID, size) triples: a key for one user namespace.
MapsKey = tuple[tuple[tuple[int, int, int], ...], ...]


def open_mounts(sc: s.Syscalls, config: RuntimeConfig, bundle: str) -> dict[int, int]:
    """Detached idmapped mounts for the config's mounts that want one: {index in mounts: fd}.

    On an error every fd opened so far is closed (closing a detached mount's fd unmounts it).
    """
    fds: dict[int, int] = {}
    userns: dict[MapsKey, int] = {}
    try:
        for i, m in enumerate(config.mounts):
            if m.idmapped:
                fds[i] = _open_one(sc, config, bundle, i, m, userns)
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    finally:
        for fd in userns.values():
            os.close(fd)
    return fds


def _open_one(
    sc: s.Syscalls, config: RuntimeConfig, bundle: str, i: int, m: Mount, userns: dict[MapsKey, int]
) -> int:
    where = f"mounts[{i}] ({m.destination})"
    opts = parse_options(m.options)
    if not opts.is_bind:
        raise InvalidArgument(f"{where}: idmapped mounts are supported for bind mounts only")
    maps = (m.uid_mappings, m.gid_mappings)
    if not m.uid_mappings:
        # config.md#mounts: without its own mappings a mount MAY take the container's user namespace's.
        if config.linux.namespace("user") is None or not config.linux.uid_mappings:
            raise InvalidArgument(f"{where}: idmap needs uidMappings and gidMappings, or a user namespace")
        maps = (config.linux.uid_mappings, config.linux.gid_mappings)
    source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
    key = tuple(tuple((x.container_id, x.host_id, x.size) for x in side) for side in maps)
    if key not in userns:
        userns[key] = userns_with(sc, *maps)
    recursive_clone = bool(opts.flags & s.MS_REC)
    try:
        fd = sc.open_tree_clone(source, recursive_clone)
    except OSError as err:
        raise InvalidArgument(f"{where}: source {source!r}: {err.strerror}") from None
    try:
        sc.mount_setattr_idmap(fd, userns[key], recursive=recursive_clone and "ridmap" in m.options)
    except OSError as err:
        os.close(fd)
        raise InvalidArgument(f"{where}: cannot idmap {source}: {err.strerror}") from None
    return fd


def userns_with(sc: s.Syscalls, uid_maps: tuple[IDMapping, ...], gid_maps: tuple[IDMapping, ...]) -> int:
    """An fd of a new user namespace with these maps, made by a child that waits while they are
    written and the namespace is opened, then exits (the fd keeps the namespace)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(s.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise BerthError("cannot create a user namespace for an idmapped mount")
        namespaces.write_id_maps(pid, uid_maps, gid_maps)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)
