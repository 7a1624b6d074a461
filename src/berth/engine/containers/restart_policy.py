"""When the restart policy (``--restart``) starts an exited container again: Docker's backoff."""

from __future__ import annotations

from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.engine.options import CreateOptions, RestartPolicy

#: Docker's restart backoff: 100 ms, doubling per restart up to a minute, from zero again after a
#: run of ten seconds or more (so a container that fails at once cannot spin the machine).
_BACKOFF_FIRST_S, _BACKOFF_MAX_S, _BACKOFF_RESET_S = 0.1, 60.0, 10.0


def restart_delay(record: ContainerRecord | None) -> float | None:
    """How long the restart policy waits before it starts the exited container again; None: it
    does not (the container is gone, active, stopped by a user, or the policy is done)."""
    if record is None or record.state in ACTIVE or record.stopped_by_user or record.exit_code is None:
        return None
    policy = RestartPolicy.parse(CreateOptions.from_json(record.config["options"]).restart)
    if not policy.wants_restart(record.exit_code, record.restart_count):
        return None
    ran = (record.finished_at or 0.0) - (record.started_at or 0.0)
    if ran >= _BACKOFF_RESET_S:
        return 0.0
    return min(_BACKOFF_FIRST_S * (1 << min(record.restart_count, 16)), _BACKOFF_MAX_S)
