"""Namespaces of config-linux.md#namespaces: which to create, which to join, and the id maps.

The user namespace is handled apart: it must be joined first (it owns the others) and, when new,
created alone so the runtime can write its uid/gid maps before the other namespaces are made under
it, which is how runc orders it too.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.runtime.linux import syscalls as s
from berth.spec.runtime_config import IDMapping, Linux, TimeOffset

#: config-linux.md namespace type -> clone flag.
CLONE_FLAGS = {
    "pid": s.CLONE_NEWPID,
    "network": s.CLONE_NEWNET,
    "mount": s.CLONE_NEWNS,
    "ipc": s.CLONE_NEWIPC,
    "uts": s.CLONE_NEWUTS,
    "user": s.CLONE_NEWUSER,
    "cgroup": s.CLONE_NEWCGROUP,
    "time": s.CLONE_NEWTIME,
}

#: config-linux.md namespace type -> name under /proc/<pid>/ns.
PROC_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}


def join(sc: s.Syscalls, ns_type: str, path: str) -> None:
    """setns(2) into the namespace at ``path`` (a /proc/<pid>/ns file or a bind mount of one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InvalidArgument(f"namespace {ns_type} path {path}: {err.strerror}") from None
    try:
        sc.setns(fd, CLONE_FLAGS[ns_type])
    finally:
        os.close(fd)


def join_configured(sc: s.Syscalls, linux: Linux) -> None:
    """Join every namespace the config gives a ``path``, the user namespace first: it gives the
    privileges over the namespaces it owns. A namespace it does not own (a pod's network namespace,
    made in the host's user namespace before the pod's user namespace) is joined before it, while
    the runtime still has the host's privileges (runc tries the same two rounds)."""
    paths = [ns for ns in linux.namespaces if ns.path]
    userns = next((ns for ns in paths if ns.type == "user"), None)
    if userns is None:
        for ns in paths:
            join(sc, ns.type, ns.path)
        return
    others = [ns for ns in paths if ns is not userns]
    later = []
    for ns in others:
        try:
            join(sc, ns.type, ns.path)
        except OSError:
            later.append(ns)  # owned by the user namespace: not joinable from outside it
    join(sc, "user", userns.path)
    for ns in later:
        join(sc, ns.type, ns.path)


def new_flags(linux: Linux) -> int:
    """Clone flags of the namespaces to create, other than user and time (which go first)."""
    flags = 0
    for ns in linux.namespaces:
        if not ns.path and ns.type not in ("user", "time"):
            flags |= CLONE_FLAGS[ns.type]
    return flags


def wants_new(linux: Linux, ns_type: str) -> bool:
    """Whether the config asks for a new namespace of ``ns_type``."""
    ns = linux.namespace(ns_type)
    return ns is not None and not ns.path


def write_id_maps(pid: int, uid_maps: tuple[IDMapping, ...], gid_maps: tuple[IDMapping, ...]) -> None:
    """user_namespaces(7): write /proc/<pid>/uid_map and gid_map, each in one write as required.

    An unprivileged writer (a rootless runtime) may map only its own ids, and the gid map only once
    setgroups(2) is denied in the namespace, which the kernel then enforces for good.
    """
    if gid_maps and os.geteuid() != 0:
        _write_proc(pid, "setgroups", "deny", "linux.gidMappings")
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        if not maps:
            continue
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        _write_proc(pid, name, text, f"linux.{name[:3]}Mappings")


def _write_proc(pid: int, name: str, text: str, field: str) -> None:
    fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    except OSError as err:
        raise InvalidArgument(f"{field}: cannot write {name}: {err.strerror}") from None
    finally:
        os.close(fd)


def write_time_offsets(offsets: dict[str, TimeOffset] | None) -> None:
    """time_namespaces(7): set clock offsets, before any process enters the new time namespace."""
    if not offsets:
        return
    text = "".join(f"{clock} {o.secs} {o.nanosecs}\n" for clock, o in offsets.items())
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
