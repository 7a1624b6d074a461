"""A pod's cgroup: the parent of its containers' cgroups, where the pod-level limits sit.

The runtime makes each container's cgroup (``<pod cgroup>/berth-<id>``, runtime-spec
config-linux.md#cgroups-path) and removes it with the container; the pod's own directory, with
its ``--cpus`` and ``--memory`` written there (config-linux.md#control-groups, through the
runtime's cgroup managers: every v1 hierarchy, or the v2 one), is made when one of its containers
starts and removed with the pod. Kernel limits on a parent bind all of its children together.
"""

from __future__ import annotations

from berth.engine.units import parse_cpus, parse_size
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

#: The CFS period the quota of ``--cpus`` is counted in (as podman's).
CPU_PERIOD = 100_000
#: The kernel's smallest useful memory limit for a group of containers (podman's minimum).
MIN_MEMORY = 6 * 1024 * 1024


def pod_cgroup_parent(engine_cgroup_parent: str, pod_id: str) -> str:
    """The pod's cgroup path: ``/berth-pod-<id>``, under the engine's cgroup parent if it has one."""
    leaf = f"berth-pod-{pod_id}"
    return f"/{engine_cgroup_parent.strip('/')}/{leaf}" if engine_cgroup_parent.strip("/") else f"/{leaf}"


def pod_resources(cpus: str, memory: str) -> dict[str, Any]:
    """``linux.resources`` for the pod's ``--cpus`` and ``--memory``; ``InvalidArgument`` on bad ones.

    Devices are left alone: a device rule on the parent would bind every container below it."""
    resources: dict[str, Any] = {}
    if memory:
        limit = parse_size(memory, "--memory")
        if limit < MIN_MEMORY:
            raise InvalidArgument(f"invalid --memory {memory!r}: the minimum is 6m")
        resources["memory"] = {"limit": limit, "swap": limit}  # no swap: the limit is the limit
    if cpus:
        resources["cpu"] = {"quota": int(parse_cpus(cpus) * CPU_PERIOD), "period": CPU_PERIOD}
    return resources


def ensure_pod_cgroup(cgroup_parent: str, resources: dict[str, Any]) -> None:
    """Make the pod's cgroup if it is missing and write its limits (again: idempotent)."""
    from berth.runtime.linux.cgroups import open_manager

    manager = open_manager(cgroup_parent, "")
    try:
        manager.create()
        manager.set_resources(resources)
    except (BerthError, OSError) as err:
        raise BerthError(f"pod cgroup {cgroup_parent}: {err}") from None


def remove_pod_cgroup(cgroup_parent: str) -> None:
    """Remove the pod's cgroup in every hierarchy (with any container cgroup a killed command left
    in it); no error if it is gone."""
    from berth.runtime.linux.cgroups import open_manager
    from berth.runtime.linux.cgroups.files import remove_dirs

    state = open_manager(cgroup_parent, "").to_state()
    remove_dirs(state["paths"].values() if state["version"] == 1 else [state["path"]])
