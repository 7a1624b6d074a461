"""Snapshots of the host resources Berth and its tests make, so a test that leaves one behind fails.

The check never diffs the whole host: on a real one, other software makes and removes cgroups,
mounts and network namespaces all the time. It looks only at what is Berth's:

- by name: a cgroup or mount point with a path component starting with ``berth`` (the engine's
  ``berth-<id>`` container cgroups, the tests' ``berth-test-*`` cgroups and ``berth-*`` temporary
  directories, the default roots /var/lib/berth, /run/berth and /var/cache/berth-runtime), unless
  the cgroup runs processes that are not the test session's (another Berth's live container);
- by place: mounts under the test session's temporary base directory, where the tests put
  BERTH_ROOT and BERTH_RUNROOT (the snapshotter's overlay roots, the engine's pinned network
  namespaces). Of these mounts, the nsfs ones are reported as network namespaces;
- by parentage: the test session makes pytest a child subreaper, so any process a test starts and
  abandons (a container's init after its runtime exited, a daemon) is reparented to pytest and
  shows up as its child;
- files left in the directory pytest runs in (the checkout, in CI).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

_BERTH_PREFIX = "berth"  # the name every Berth-made or test-made cgroup, netns or directory carries
_PR_SET_CHILD_SUBREAPER = 36
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_WORKDIR = os.getcwd()  # at import, before any test could chdir


def become_subreaper() -> None:
    """Adopt orphaned descendants so leaked processes stay visible to the leak check."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _names_berth(path: str) -> bool:
    """Whether a component of ``path`` carries Berth's name."""
    return any(part.startswith(_BERTH_PREFIX) for part in path.split("/"))


def _berth_mounts(temp_base: str) -> frozenset[str]:
    """Mounts in Berth's places, as 'mount point, filesystem type, source'."""
    entries = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        target, sep = fields[4], fields.index("-")  # fs type and source follow the " - " separator
        if _names_berth(target) or target == temp_base or target.startswith(temp_base + "/"):
            entries.add(f"{target} {fields[sep + 1]} {fields[sep + 2]}")
    return frozenset(entries)


def _berth_cgroups() -> frozenset[str]:
    """Cgroups with Berth's name anywhere in any hierarchy (top level, under a configured parent,
    or under the test process's own cgroup, where relative cgroupsPath values land), but not those
    running another session's processes: another Berth's live containers are not this test's leak."""
    # One walk from the root: on a v2 host it is the hierarchy itself (a top-level berth-* cgroup
    # is a child of it), on a v1 or hybrid one it holds a mount point per hierarchy, never named
    # berth*. os.walk does not follow the symlinks among them (cpu -> cpu,cpuacct).
    found = set()
    for dirpath, _dirs, _files in os.walk(_CGROUP_ROOT):
        if _names_berth(os.path.relpath(dirpath, _CGROUP_ROOT)) and not _runs_foreign(dirpath):
            found.add(dirpath)
    return frozenset(found)


def _runs_foreign(cgroup: str) -> bool:
    """Whether a process in ``cgroup`` or below it is not this session's."""
    for dirpath, _dirs, _files in os.walk(cgroup):
        try:
            pids = Path(dirpath, "cgroup.procs").read_text().split()
        except OSError:
            continue
        if any(is_foreign(pid) for pid in pids):
            return True
    return False


def is_foreign(pid: str) -> bool:
    """Whether ``pid`` is alive and does not descend from this process. Every process of the
    session's does: the tests start them, and pytest adopts the ones their parents abandon."""
    me = str(os.getpid())
    while pid not in (me, "0"):
        stat = _stat(pid)
        if stat is None:
            return False  # it exited meanwhile, so it holds nothing
        pid = stat[2]
    return pid == "0"


def _stat(pid: str) -> tuple[str, str, str] | None:
    """(command name, state, parent pid) of ``pid``; None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm_end = stat.rindex(")")
    state, ppid = stat[comm_end + 2 :].split()[:2]
    return stat[stat.index("(") + 1 : comm_end], state, ppid


def _children() -> frozenset[str]:
    """Live (non-zombie) direct children of this process, as 'pid comm'."""
    me = str(os.getpid())
    kids = set()
    for entry in os.listdir("/proc"):
        stat = _stat(entry) if entry.isdigit() else None
        if stat is not None and stat[2] == me and stat[1] != "Z":
            kids.add(f"{entry} {stat[0]}")
    return frozenset(kids)


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
    """Berth's resources on the host at one moment."""

    mounts: frozenset[str]
    cgroups: frozenset[str]
    children: frozenset[str]
    netns: frozenset[str]
    workdir: frozenset[str]

    @classmethod
    def take(cls, temp_base: Path) -> Snapshot:
        """Read Berth's resources now; ``temp_base`` is the test session's temporary base directory."""
        reap_zombies()
        mounts = _berth_mounts(str(temp_base))
        netns = frozenset(entry for entry in mounts if entry.split()[1] == "nsfs")
        return cls(mounts - netns, _berth_cgroups(), _children(), netns, _workdir())

    def leaks_since(self, before: Snapshot) -> list[str]:
        """Human-readable lines for everything present now that was not present ``before``."""
        lines = []
        for kind in ("mounts", "cgroups", "children", "netns", "workdir"):
            extra = getattr(self, kind) - getattr(before, kind)
            lines += [f"leaked {kind}: {item}" for item in sorted(extra)]
        return lines
