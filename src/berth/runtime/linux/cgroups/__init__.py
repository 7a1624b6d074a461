"""Control groups for containers (runtime-spec config-linux.md#control-groups).

``open_manager`` picks the host's cgroup version and places the container's cgroup; ``load_manager``
reopens one from ``CgroupManager.to_state()`` in a later ``berth-runtime`` invocation::

    mgr = open_manager(config["linux"].get("cgroupsPath"), container_id)
    mgr.create(); mgr.set_resources(config["linux"].get("resources", {})); mgr.add_process(pid)
    state["cgroup"] = mgr.to_state()
    ...
    load_manager(state["cgroup"]).destroy()
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.runtime.linux.cgroups.manager import CgroupManager

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["CgroupManager", "load_manager", "open_manager"]


def open_manager(cgroups_path: str | None, container_id: str) -> CgroupManager:
    """The manager for ``cgroupsPath`` on this host; without one, the container id relative to this
    process's own cgroup (runc's default)."""
    from berth.runtime.linux.cgroups import host

    path = cgroups_path or container_id
    hierarchies = host.mounted_hierarchies()  # read once: is_unified and V1Manager.open both need it
    if host.is_unified(hierarchies=hierarchies):
        from berth.runtime.linux.cgroups.v2 import V2Manager

        return V2Manager.open(path)
    from berth.runtime.linux.cgroups.v1 import V1Manager

    return V1Manager.open(path, hierarchies)


def load_manager(saved: Mapping[str, Any]) -> CgroupManager:
    """Rebuild a manager from its ``to_state()`` output."""
    try:
        created = [str(d) for d in saved.get("created", [])]
        if saved["version"] == 1:
            from berth.runtime.linux.cgroups.v1 import V1Manager

            return V1Manager({str(k): str(v) for k, v in saved["paths"].items()}, created)
        if saved["version"] == 2:
            from berth.runtime.linux.cgroups.v2 import V2Manager

            return V2Manager(str(saved["path"]), created, str(saved["mountpoint"]))
    except (KeyError, TypeError, AttributeError) as err:
        raise InvalidArgument(f"saved cgroup state is malformed: {err}") from None
    raise InvalidArgument(f"saved cgroup state has unknown version {saved.get('version')!r}")
