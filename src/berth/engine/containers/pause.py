"""``pause`` and ``unpause``: freeze and thaw every process of a container (the runtime's freezer)."""

from __future__ import annotations

from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import PAUSED, RUNNING, ContainerRecord
from berth.errors import InvalidState


def pause_container(engine: Engine, ref: str) -> ContainerRecord:
    """Freeze every process of a running container (the runtime's pause, via the freezer cgroup)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state != RUNNING:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    engine.runtime(record.runtime).pause(record.id)
    engine.db.update_container(record.id, only_if_state=RUNNING, state=PAUSED)
    container_event(engine.config, record, "pause")
    return record


def unpause_container(engine: Engine, ref: str) -> ContainerRecord:
    """Thaw a paused container."""
    record = refresh(engine, engine.db.container(ref))
    if record.state != PAUSED:
        raise InvalidState(f"container {record.name} is not paused (state {record.state})")
    engine.runtime(record.runtime).resume(record.id)
    engine.db.update_container(record.id, only_if_state=PAUSED, state=RUNNING)
    container_event(engine.config, record, "unpause")
    return record
