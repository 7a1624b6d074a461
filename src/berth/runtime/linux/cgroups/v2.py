"""The cgroup v2 manager: one directory in the unified hierarchy."""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument, Unsupported
from berth.runtime.linux.cgroups import devices, host, v2_resources, v2_stats
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


class V2Manager(CgroupManager):
    """A container's directory in the unified (cgroup2) hierarchy mounted at ``mountpoint``."""

    version = 2

    def __init__(
        self, path: str, created: list[str] | None = None, mountpoint: str = host.CGROUP_ROOT
    ) -> None:
        self.path = path
        self.mountpoint = mountpoint
        self.created = list(created or [])

    @classmethod
    def open(cls, cgroups_path: str, mountpoint: str = host.CGROUP_ROOT) -> V2Manager:
        """Locate ``cgroups_path`` (runc's rules: absolute from the root; relative below the parent of
        this process's own cgroup, since that one already holds processes)."""
        inner = host.clean_cgroups_path(cgroups_path)
        if not inner or inner == "/":
            raise InvalidArgument(f"linux.cgroupsPath: {cgroups_path!r} names no cgroup of its own")
        if inner.startswith("/"):
            return cls(os.path.join(mountpoint, inner.lstrip("/")), mountpoint=mountpoint)
        own = host.own_cgroups().get("", "/")
        base = os.path.dirname(own.rstrip("/")) or "/"
        return cls(os.path.join(mountpoint, base.lstrip("/"), inner), mountpoint=mountpoint)

    def create(self) -> None:
        """Make the directory and enable, on the way down, every controller the parents offer."""
        try:
            self.created += make_dirs(self.path)
        except OSError as err:
            self.destroy()
            raise creation_error(err) from None
        self._enable_controllers()

    def _enable_controllers(self) -> None:
        rel = os.path.relpath(os.path.dirname(self.path), self.mountpoint)
        current = self.mountpoint
        for part in [] if rel == "." else rel.split("/"):
            _enable_in(current)
            current = os.path.join(current, part)
        _enable_in(current)

    def add_process(self, pid: int) -> None:
        """Write ``pid`` to cgroup.procs."""
        write_procs(self.path, pid)

    def add_self(self) -> None:
        """Write 0 (the caller) to cgroup.procs."""
        write_procs(self.path, 0)

    def _file_exists(self, _controller: str, name: str) -> bool:
        return os.path.exists(os.path.join(self.path, name))

    def set_resources(self, resources: Mapping[str, Any]) -> None:
        """Apply ``linux.resources`` converted to v2 files, then the ``unified`` entries, then attach
        the device rules as an eBPF program (through ``device_filter_loader``)."""
        rules = v2_resources.device_rules(resources)
        loader = self.device_filter_loader
        if rules is not None and loader is None and not devices.allows_everything(rules):
            raise Unsupported(
                "linux.resources.devices: device rules on cgroup v2 need a bpf(2) program loader"
            )
        writes = v2_resources.translate(resources, self._file_exists)
        apply_writes(writes, lambda _c: self.path)
        if rules is not None and loader is not None:
            # Attached even when it allows everything: it replaces whatever an earlier call attached.
            from berth.runtime.linux.cgroups import devices_bpf

            loader(devices_bpf.program(rules), self.path)

    def _set_freeze(self, frozen: bool) -> None:
        try:
            write_file(self.path, "cgroup.freeze", "1" if frozen else "0")
        except OSError as err:
            raise BerthError(f"cannot write {self.path}/cgroup.freeze: {err.strerror}") from None
        if not wait_until(lambda: self.is_frozen() == frozen, FREEZE_TIMEOUT):
            if frozen:
                write_file(self.path, "cgroup.freeze", "0")
            raise BerthError(f"cgroup {self.path} did not {'freeze' if frozen else 'thaw'} in time")

    def freeze(self) -> None:
        """cgroup.freeze = 1, waiting until cgroup.events reports ``frozen 1``."""
        self._set_freeze(True)

    def thaw(self) -> None:
        """cgroup.freeze = 0."""
        self._set_freeze(False)

    def is_frozen(self) -> bool:
        """cgroup.events' ``frozen`` flag."""
        try:
            return read_keyed(self.path, "cgroup.events").get("frozen", 0) == 1
        except NotADirectoryError:
            return False

    def pids(self) -> list[int]:
        """Pids in the cgroup and below."""
        return read_procs(self.path)

    def stats(self) -> dict[str, Any]:
        """cpu, memory, pids, io (as blkio), hugetlb usage (runc events --stats shape)."""
        return v2_stats.stats(self.path)

    def oom_kill_count(self) -> int:
        """memory.events' oom_kill counter (0 without the memory controller)."""
        return read_keyed(self.path, "memory.events").get("oom_kill", 0)

    def destroy(self) -> None:
        """Remove the directories ``create`` made, innermost first."""
        remove_dirs(self.created)
        self.created = []

    def to_state(self) -> dict[str, Any]:
        """``{"version": 2, "path": dir, "mountpoint": root, "created": [dir, ...]}``."""
        return {"version": 2, "path": self.path, "mountpoint": self.mountpoint, "created": list(self.created)}


def _enable_in(directory: str) -> None:
    # One controller at a time: the kernel refuses a whole line if one controller cannot be enabled
    # (e.g. a threaded subtree); a controller left off shows up later as a missing file, named then.
    try:
        available = read_text(directory, "cgroup.controllers").split()
        enabled = set(read_text(directory, "cgroup.subtree_control").split())
    except FileNotFoundError:
        return
    for controller in available:
        if controller not in enabled:
            try:
                write_file(directory, "cgroup.subtree_control", f"+{controller}")
            except OSError:
                continue
