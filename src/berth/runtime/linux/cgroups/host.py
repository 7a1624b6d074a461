"""What the host offers: which cgroup mode, where each hierarchy is mounted, where this process sits.

runtime-spec config-linux.md#control-groups leaves the layout to the host; like runc, a relative
``cgroupsPath`` is placed under the invoking process's own cgroup and an absolute one under each
hierarchy's root.
"""

from __future__ import annotations

import os
import posixpath

CGROUP_ROOT = "/sys/fs/cgroup"


class Hierarchy:
    """One mounted cgroup v1 hierarchy (or the v2 one, with ``controllers == ()``)."""

    __slots__ = ("controllers", "mountpoint", "root", "version")

    def __init__(self, mountpoint: str, root: str, controllers: tuple[str, ...], version: int) -> None:
        self.mountpoint = mountpoint
        self.root = root  # the cgroup the mount shows at its mountpoint ("/" unless in a cgroup namespace)
        self.controllers = controllers  # e.g. ("cpu", "cpuacct") or ("name=systemd",)
        self.version = version


def mounted_hierarchies(mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """Every cgroup and cgroup2 mount visible to this process."""
    found = []
    with open(mountinfo, encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index("-")
            fstype, super_opts = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup":
                opts = tuple(o for o in super_opts.split(",") if o not in _GENERIC_OPTS and "=" not in o)
                named = tuple(o for o in super_opts.split(",") if o.startswith("name="))
                found.append(Hierarchy(_unescape(fields[4]), _unescape(fields[3]), opts + named, 1))
            elif fstype == "cgroup2":
                found.append(Hierarchy(_unescape(fields[4]), _unescape(fields[3]), (), 2))
    return found


_GENERIC_OPTS = frozenset({"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode"})


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def is_unified(root: str = CGROUP_ROOT, hierarchies: list[Hierarchy] | None = None) -> bool:
    """True when ``root`` itself is a cgroup2 mount (unified mode); False for v1 or hybrid hosts.
    ``hierarchies``: ``mounted_hierarchies()`` if the caller has read them already."""
    found = mounted_hierarchies() if hierarchies is None else hierarchies
    return any(h.version == 2 and h.mountpoint == root for h in found)


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """This process's cgroup per hierarchy from /proc/PID/cgroup: controller (or ``name=X``) -> path.

    The v2 entry (hierarchy id 0, no controllers) is under the key ``""``.
    """
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
        for line in fh:
            _id, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


def clean_cgroups_path(path: str) -> str:
    """Normalise ``cgroupsPath`` so that ``..`` can never climb out of the hierarchy (as runc does)."""
    if not path:
        return ""
    if path.startswith("/"):
        return posixpath.normpath(path)
    return posixpath.normpath("/" + path).lstrip("/")


def within(mountpoint: str, mount_root: str, cgroup: str) -> str:
    """The directory of ``cgroup`` (as /proc/PID/cgroup names it) under a mount of ``mount_root``."""
    rel = posixpath.relpath(cgroup, mount_root) if cgroup.startswith(mount_root) else cgroup.lstrip("/")
    return os.path.normpath(os.path.join(mountpoint, "" if rel == "." else rel))
