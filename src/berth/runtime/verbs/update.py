"""``update``: change a container's cgroup resources (``--resources FILE|-`` JSON, or runc's flags)."""

from __future__ import annotations

import json
import sys

from berth.errors import InvalidArgument, InvalidState, Unsupported
from berth.runtime import container
from berth.runtime.container import Container
from berth.runtime.linux.cgroups import load_manager

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: runc update flag -> (resources section, key) for the flags that map one to one.
FLAG_FIELDS = {
    "memory": ("memory", "limit"),
    "memory-reservation": ("memory", "reservation"),
    "memory-swap": ("memory", "swap"),
    "kernel-memory": ("memory", "kernel"),
    "cpu-shares": ("cpu", "shares"),
    "cpu-quota": ("cpu", "quota"),
    "cpu-period": ("cpu", "period"),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime"),
    "cpu-rt-period": ("cpu", "realtimePeriod"),
    "cpuset-cpus": ("cpu", "cpus"),
    "cpuset-mems": ("cpu", "mems"),
    "blkio-weight": ("blockIO", "weight"),
    "pids-limit": ("pids", "limit"),
}


def resources_from_flags(flags: Mapping[str, str]) -> dict[str, Any]:
    """A linux.resources object from runc update's individual flags."""
    resources: dict[str, Any] = {}
    for flag, text in flags.items():
        section, key = FLAG_FIELDS[flag]
        value: Any = text
        if key not in ("cpus", "mems"):
            try:
                value = int(text)
            except ValueError:
                raise InvalidArgument(f"--{flag} {text!r}: expected an integer") from None
        resources.setdefault(section, {})[key] = value
    return resources


def read_resources(path: str) -> dict[str, Any]:
    """``--resources``: a linux.resources JSON object from a file, or stdin for ``-``."""
    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path) as fh:
            text = fh.read()
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"--resources: invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("--resources: expected a JSON object")
    return data


def update(c: Container, resources: Mapping[str, Any]) -> None:
    """Apply ``resources`` to the container's cgroup."""
    if c.status() == container.STOPPED:
        raise InvalidState(f"cannot update container {c.id!r}: it is stopped")
    if not c.cgroup:
        raise Unsupported(f"container {c.id!r} has no cgroup")
    manager = load_manager(c.cgroup)
    if manager.version == 2:
        from berth.runtime.linux.syscalls import syscalls

        manager.set_device_filter_loader(syscalls().attach_cgroup_device_filter)
    manager.set_resources(resources)
