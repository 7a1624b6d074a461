"""The runtime's one doorway to cgroup managers (``berth.runtime.linux.cgroups``).

Lifecycle code calls ``open_manager``/``load`` here; when the cgroup package is not present the
container simply gets no cgroup (``open_manager`` returns None), so the rest of the runtime works.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol


class CgroupManager(Protocol):
    """What the lifecycle needs of a cgroup manager (v1 or v2)."""

    version: int

    def create(self) -> None: ...
    def add_process(self, pid: int) -> None: ...
    def set_resources(self, resources: Mapping[str, Any]) -> None: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def is_frozen(self) -> bool: ...
    def pids(self) -> list[int]: ...
    def stats(self) -> dict[str, Any]: ...
    def oom_kill_count(self) -> int: ...
    def destroy(self) -> None: ...
    def to_state(self) -> dict[str, Any]: ...


def _package() -> Any:
    try:
        return importlib.import_module("berth.runtime.linux.cgroups")
    except ImportError:
        return None


def open_manager(cgroups_path: str | None, container_id: str) -> CgroupManager | None:
    """A manager for the container's cgroup (config-linux.md#cgroups-path), or None without cgroups."""
    package = _package()
    if package is None or not hasattr(package, "open_manager"):
        return None
    manager: CgroupManager = package.open_manager(cgroups_path, container_id)
    return manager


def load(saved: Mapping[str, Any]) -> CgroupManager:
    """Reopen the manager recorded in state.json."""
    package = _package()
    if package is None or not hasattr(package, "load_manager"):
        from berth.errors import Unsupported

        raise Unsupported("this build has no cgroup manager")
    manager: CgroupManager = package.load_manager(dict(saved))
    return manager
