"""``rm``: remove a container, and ``volume rm --force``, which removes a volume's containers first."""

from __future__ import annotations

from berth.engine.containers.cleanup import cleanup_container, remove_anonymous_volumes, remove_files
from berth.engine.containers.lock import container_lock
from berth.engine.containers.state import current_record, refresh, restart_pending
from berth.engine.containers.stop import record_user_stop, still_active, stop_container, wait_socket
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.errors import InvalidState


def remove_container(
    engine: Engine, ref: str, force: bool = False, volumes: bool = False, spare_restarting: bool = False
) -> ContainerRecord:
    """Remove a container that is not running (``force``: stop it at once first); with ``volumes``,
    also its anonymous volumes. A container waiting out a restart backoff is removed, not restarted,
    unless ``spare_restarting`` (prune's: only stopped containers go) refuses it."""
    found = refresh(engine, engine.db.container(ref))
    cid = found.id
    if found.pod:
        _refuse_infra_of_members(engine, found)
    if force:
        record = stop_container(engine, cid, 0)
    else:
        record = record_user_stop(engine, cid, refuse_active=True, refuse_restarting=spare_restarting)
        if restart_pending(record):
            engine.close()
            wait_socket(engine, record, None)  # the monitor finds the user's stop and ends
    with container_lock(engine, cid):
        current = current_record(engine, cid)
        if current is None:
            return record  # removed meanwhile (``--rm``, another ``rm``)
        if current.state in ACTIVE:  # a user's start came in between
            raise still_active(current)
        cleanup_container(engine, cid, None)
        remove_files(engine, current)
        engine.db.remove_container(cid)
        container_event(engine.config, current, "remove")
    if volumes:
        remove_anonymous_volumes(engine, current)
    return current


def _refuse_infra_of_members(engine: Engine, record: ContainerRecord) -> None:
    """A pod's infra goes only with the pod, once its other containers are gone (as podman)."""
    from berth.engine.containers.pod_member import is_infra

    others = [c.name for c in engine.db.containers() if c.pod == record.pod and c.id != record.id]
    if is_infra(record) and others:
        raise InvalidState(
            f"container {record.name} is the infra of a pod with other containers ({', '.join(others)}): "
            "remove the pod instead"
        )


def remove_volume_and_users(engine: Engine, name: str) -> None:
    """``volume rm --force``: remove the containers that mount volume ``name`` (stopped at once),
    then the volume."""
    from berth.engine.volumes.local import remove_volume, volume_users

    engine.db.volume(name)  # a missing volume fails before any container is touched
    for user in volume_users(engine, name):
        remove_container(engine, user, force=True)
    remove_volume(engine, name)
