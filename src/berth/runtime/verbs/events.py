"""``events``: runc's event stream: ``--stats`` prints one stats event, otherwise one every interval
plus an ``oom`` event whenever the cgroup's OOM-kill count rises, until the container stops."""

from __future__ import annotations

import gc
import json
import sys
import time

from berth.errors import InvalidState, Unsupported
from berth.runtime import container
from berth.runtime.container import Container
from berth.runtime.linux.cgroups import load_manager


def stats_event(c: Container) -> dict[str, object]:
    """One ``{"type": "stats", "id": ..., "data": ...}`` event."""
    if not c.cgroup:
        raise Unsupported(f"container {c.id!r} has no cgroup to read statistics from")
    return {"type": "stats", "id": c.id, "data": load_manager(c.cgroup).stats()}


def events(c: Container, stats_once: bool, interval: float) -> None:
    """Print events as JSON lines on stdout."""
    if c.status() == container.STOPPED:
        raise InvalidState(f"container {c.id!r} is stopped")
    if stats_once:
        print(json.dumps(stats_event(c)))
        return
    gc.enable()  # a stream runs until the container stops (berth.runtime.cli turned it off)
    manager = load_manager(c.cgroup) if c.cgroup else None
    ooms = manager.oom_kill_count() if manager else 0
    while c.status() != container.STOPPED:
        if manager is not None:
            count = manager.oom_kill_count()
            if count > ooms:
                print(json.dumps({"type": "oom", "id": c.id}))
            ooms = count
        print(json.dumps(stats_event(c)))
        sys.stdout.flush()
        time.sleep(interval)
