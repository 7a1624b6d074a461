"""``pause`` and ``resume``: freeze and thaw every process of the container (cgroup freezer)."""

from __future__ import annotations

from berth.errors import InvalidState, Unsupported
from berth.runtime import container
from berth.runtime.container import Container
from berth.runtime.linux.cgroups import CgroupManager, load_manager


def pause(c: Container) -> None:
    """Freeze a running container."""
    status = c.status()
    if status != container.RUNNING:
        raise InvalidState(f"cannot pause container {c.id!r}: it is {status}")
    _manager(c).freeze()


def resume(c: Container) -> None:
    """Thaw a paused container."""
    status = c.status()
    if status != container.PAUSED:
        raise InvalidState(f"cannot resume container {c.id!r}: it is {status}, not paused")
    _manager(c).thaw()


def _manager(c: Container) -> CgroupManager:
    if not c.cgroup:
        raise Unsupported(f"container {c.id!r} has no cgroup to freeze")
    return load_manager(c.cgroup)
