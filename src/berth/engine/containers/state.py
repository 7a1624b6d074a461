"""A container's state as the database has it, made to tell the truth.

Kept apart from the lifecycle verbs so that read-only commands (``ps``, ``inspect``) import little:
the reconciling cleanup (``berth.engine.containers.cleanup``) is imported only when a monitor is
found dead.
"""

from __future__ import annotations

from berth.engine.engine import Engine, pid_alive
from berth.engine.metadata import ACTIVE, EXITED, ContainerRecord
from berth.errors import NotFound


def restart_pending(record: ContainerRecord) -> bool:
    """Whether the monitor of the container's last run waits to start it again (its restart
    policy's backoff): it marks the exited record with its pid until it restarts it or gives up."""
    return record.state == EXITED and pid_alive(record.monitor_pid)


def current_record(engine: Engine, cid: str) -> ContainerRecord | None:
    """Container ``cid``'s record, or None once it has been removed."""
    try:
        return engine.db.container(cid)
    except NotFound:
        return None


def refresh(engine: Engine, record: ContainerRecord) -> ContainerRecord:
    """Make the record tell the truth if its monitor died without recording the exit."""
    if record.state not in ACTIVE or pid_alive(record.monitor_pid):
        return record
    state = engine.runtime(record.runtime).state(record.id) if record.runtime else None
    if state is not None and state.get("status") in ("running", "paused"):
        return record  # the monitor is gone but the container still runs: report it as it is
    paths = engine.paths(record.id)
    try:
        code: int | None = int(paths.exit_file.read_text())
    except (OSError, ValueError):
        code = None
    engine.db.update_container(record.id, error="" if code is not None else "monitor exited unexpectedly")
    from berth.engine.containers.cleanup import cleanup_container

    cleanup_container(engine, record.id, code if code is not None else -1)
    try:
        return engine.db.container(record.id)
    except NotFound:
        record.state = EXITED
        return record
