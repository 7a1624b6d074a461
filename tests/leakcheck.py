"""Snapshots of host resources a test could leak: mounts, cgroups, processes, network namespaces,
and files left in the directory pytest runs in (the checkout, in CI).

The test session makes pytest a child subreaper, so any process a test starts and abandons (a
container's init after its runtime exited, a daemon) is reparented to pytest and shows up here.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_NETNS_DIR = Path("/run/netns")
_WORKDIR = os.getcwd()  # at import, before any test could chdir


def become_subreaper() -> None:
    """Adopt orphaned descendants so leaked processes stay visible to the leak check."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _mounts() -> frozenset[str]:
    # Mount point (field 5) plus filesystem type and source after the " - " separator.
    entries = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        entries.add(f"{fields[4]} {fields[sep + 1]} {fields[sep + 2]}")
    return frozenset(entries)


def _cgroups() -> frozenset[str]:
    found = set()
    if not _CGROUP_ROOT.is_dir():
        return frozenset()
    for hierarchy in _CGROUP_ROOT.iterdir():
        if hierarchy.is_symlink() or not hierarchy.is_dir():
            continue
        for dirpath, _dirs, _files in os.walk(hierarchy):
            found.add(dirpath)
    return frozenset(found)


def _children() -> frozenset[str]:
    """Live (non-zombie) direct children of this process, as 'pid comm'."""
    me = str(os.getpid())
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm_end = stat.rindex(")")
        state, ppid = stat[comm_end + 2 :].split()[:2]
        if ppid == me and state != "Z":
            kids.add(f"{entry} {stat[stat.index('(') + 1 : comm_end]}")
    return frozenset(kids)


def _netns() -> frozenset[str]:
    return frozenset(os.listdir(_NETNS_DIR)) if _NETNS_DIR.is_dir() else frozenset()


def _workdir() -> frozenset[str]:
    # Dot-entries are tools' caches (.pytest_cache, .hypothesis), made on first use.
    return frozenset(name for name in os.listdir(_WORKDIR) if not name.startswith("."))


def reap_zombies() -> None:
    """Collect exited children so they do not count as leaks."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@dataclass(frozen=True)
class Snapshot:
    """Host resources visible at one moment."""

    mounts: frozenset[str]
    cgroups: frozenset[str]
    children: frozenset[str]
    netns: frozenset[str]
    workdir: frozenset[str]

    @classmethod
    def take(cls) -> Snapshot:
        """Read the current state of the host."""
        reap_zombies()
        return cls(_mounts(), _cgroups(), _children(), _netns(), _workdir())

    def leaks_since(self, before: Snapshot) -> list[str]:
        """Human-readable lines for everything present now that was not present ``before``."""
        lines = []
        for kind in ("mounts", "cgroups", "children", "netns", "workdir"):
            extra = getattr(self, kind) - getattr(before, kind)
            lines += [f"leaked {kind}: {item}" for item in sorted(extra)]
        return lines
