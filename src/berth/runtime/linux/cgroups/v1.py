"""The cgroup v1 manager: one directory per mounted hierarchy (cpu, memory, pids, ...)."""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument, Unsupported
from berth.runtime.linux.cgroups import host, v1_resources
from berth.runtime.linux.cgroups.files import (
    apply_writes,
    make_dirs,
    read_keyed,
    read_procs,
    read_text,
    remove_dirs,
    write_file,
    write_procs,
)
from berth.runtime.linux.cgroups.manager import FREEZE_TIMEOUT, CgroupManager, creation_error, wait_until

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# The hierarchies a container joins (runc's list): every controller, plus systemd's named one.
CONTROLLERS = frozenset(
    {
        "cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
        "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd",
    }
)  # fmt: skip


class V1Manager(CgroupManager):
    """A container's directories across the v1 hierarchies, keyed by controller."""

    version = 1

    def __init__(self, paths: Mapping[str, str], created: list[str] | None = None) -> None:
        self.paths = dict(paths)
        self.created = list(created or [])

    @classmethod
    def open(cls, cgroups_path: str, hierarchies: list[host.Hierarchy] | None = None) -> V1Manager:
        """Locate ``cgroups_path`` in every mounted hierarchy (runc's rules: an absolute path from each
        hierarchy's root, a relative one below this process's own cgroup there)."""
        inner = host.clean_cgroups_path(cgroups_path)
        if not inner or inner == "/":
            raise InvalidArgument(f"linux.cgroupsPath: {cgroups_path!r} names no cgroup of its own")
        own = {} if inner.startswith("/") else host.own_cgroups()
        paths = {}
        for h in hierarchies if hierarchies is not None else host.mounted_hierarchies():
            for controller in h.controllers:
                if h.version != 1 or controller not in CONTROLLERS:
                    continue
                if inner.startswith("/"):
                    paths[controller] = os.path.join(h.mountpoint, inner.lstrip("/"))
                elif controller in own:
                    paths[controller] = os.path.join(
                        host.within(h.mountpoint, h.root, own[controller]), inner
                    )
        if not paths:
            raise Unsupported("cgroups: no cgroup v1 hierarchy is mounted")
        return cls(paths)

    def _dirs(self) -> list[str]:
        return sorted(set(self.paths.values()))

    def create(self) -> None:
        """Make the directories in every hierarchy; a cpuset directory gets its parent's cpus and mems."""
        try:
            for path in self._dirs():
                made = make_dirs(path)
                self.created += made
                if path == self.paths.get("cpuset"):
                    for d in made:
                        _inherit_cpuset(d)
        except OSError as err:
            self.destroy()
            raise creation_error(err) from None

    def add_process(self, pid: int) -> None:
        """Write ``pid`` to cgroup.procs in every hierarchy."""
        for path in self._dirs():
            write_procs(path, pid)

    def add_self(self) -> None:
        """Write 0 (the caller) to ``tasks`` in every hierarchy. A thread moving itself spares the
        kernel the global lock that moving another process takes (on its first use, a wait for an
        RCU grace period: ~10 ms per container start here)."""
        for path in self._dirs():
            write_file(path, "tasks", "0")

    def _file_exists(self, controller: str, name: str) -> bool:
        path = self.paths.get(controller)
        return path is not None and os.path.exists(os.path.join(path, name))

    def set_resources(self, resources: Mapping[str, Any]) -> None:
        """Apply ``linux.resources``; ``unified`` is refused (it needs cgroup v2)."""
        writes = v1_resources.translate(resources, self._file_exists)
        apply_writes(writes, self.paths.get)

    def _freezer(self) -> str:
        path = self.paths.get("freezer")
        if path is None:
            raise Unsupported("cgroups: the freezer hierarchy is not mounted, so containers cannot be paused")
        return path

    def _set_freezer_state(self, state: str) -> None:
        path = self._freezer()

        def settled() -> bool:
            # Writing again nudges a cgroup stuck in FREEZING (a task was being forked).
            try:
                write_file(path, "freezer.state", state)
                return read_text(path, "freezer.state") == state
            except OSError as err:
                raise BerthError(f"cannot set cgroup {path} to {state}: {err.strerror}") from None

        if not wait_until(settled, FREEZE_TIMEOUT):
            if state == "FROZEN":
                write_file(path, "freezer.state", "THAWED")
            raise BerthError(f"cgroup {path} did not become {state} within {FREEZE_TIMEOUT:.0f}s")

    def freeze(self) -> None:
        """freezer.state = FROZEN, waiting until the kernel confirms."""
        self._set_freezer_state("FROZEN")

    def thaw(self) -> None:
        """freezer.state = THAWED."""
        self._set_freezer_state("THAWED")

    def is_frozen(self) -> bool:
        """True when freezer.state reads FROZEN."""
        path = self.paths.get("freezer")
        try:
            return path is not None and read_text(path, "freezer.state") == "FROZEN"
        except FileNotFoundError:  # the cgroup is gone: nothing in it is frozen
            return False

    def pids(self) -> list[int]:
        """Pids in the container's cgroup (read from the pids, freezer or first hierarchy)."""
        for controller in ("pids", "freezer", "memory"):
            if controller in self.paths:
                return read_procs(self.paths[controller])
        return read_procs(self._dirs()[0])

    def stats(self) -> dict[str, Any]:
        """cpu, memory, pids, blkio, hugetlb usage (runc events --stats shape)."""
        from berth.runtime.linux.cgroups import v1_stats  # only ``events`` needs it

        return v1_stats.stats(self.paths.get)

    def oom_kill_count(self) -> int:
        """memory.oom_control's oom_kill counter (0 without the memory hierarchy)."""
        path = self.paths.get("memory")
        return 0 if path is None else read_keyed(path, "memory.oom_control").get("oom_kill", 0)

    def destroy(self) -> None:
        """Remove the directories ``create`` made, innermost first."""
        remove_dirs(self.created)
        self.created = []

    def to_state(self) -> dict[str, Any]:
        """``{"version": 1, "paths": {controller: dir}, "created": [dir, ...]}``."""
        return {"version": 1, "paths": dict(self.paths), "created": list(self.created)}


def _inherit_cpuset(path: str) -> None:
    # A new v1 cpuset cgroup starts with empty cpus and mems and refuses tasks until they are set.
    parent = os.path.dirname(path)
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not read_text(path, name).strip():
            write_file(path, name, read_text(parent, name).strip() or "\n")
