"""Named volumes: directories under the storage root that outlive the containers using them.

Like podman's ``local`` driver, a volume ``NAME`` keeps its data in ``<root>/volumes/NAME/_data``
and is bind-mounted into containers; the metadata database records it.
"""

from __future__ import annotations

from pathlib import Path

from berth.engine.config import EngineConfig
from berth.engine.event_log import object_event
from berth.engine.metadata import VolumeRecord
from berth.engine.options import check_name
from berth.errors import InvalidState
from berth.fsutil import remove_tree

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.engine import Engine


def volume_data_dir(config: EngineConfig, name: str) -> Path:
    """Where volume ``name`` keeps its files."""
    return config.volumes_dir / name / "_data"


def create_volume(engine: Engine, name: str, labels: dict[str, str] | None = None) -> VolumeRecord:
    """Create volume ``name``; ``AlreadyExists`` if it exists."""
    check_name(name, "volume")
    data = volume_data_dir(engine.config, name)
    record = VolumeRecord(name=name, mountpoint=str(data), labels=labels or {})
    engine.db.add_volume(record)
    try:
        data.mkdir(parents=True, exist_ok=True)
    except BaseException:
        engine.db.remove_volume(name)
        raise
    object_event(engine.config, "volume", "create", name)
    return record


def volume_users(engine: Engine, name: str) -> list[str]:
    """Names of the containers that mount volume ``name``."""
    data = str(volume_data_dir(engine.config, name))
    return [c.name for c in engine.db.containers() if any(m.get("source") == data for m in c.mounts)]


def remove_volume(engine: Engine, name: str) -> None:
    """Delete volume ``name`` and its data; refused while a container uses it (``volume rm
    --force`` removes those containers first: ``berth.engine.containers.remove.remove_volume_and_users``)."""
    record = engine.db.volume(name)
    users = volume_users(engine, name)
    if users:
        raise InvalidState(f"volume {name} is in use by container(s) {', '.join(users)}")
    engine.db.remove_volume(record.name)
    remove_tree(Path(record.mountpoint).parent)
    object_event(engine.config, "volume", "remove", name)


def volume_info(engine: Engine, record: VolumeRecord) -> dict[str, Any]:
    """``volume inspect`` output."""
    return {
        "Name": record.name,
        "Driver": record.driver,
        "Mountpoint": record.mountpoint,
        "Labels": record.labels,
        "CreatedAt": record.created_at,
        "UsedBy": volume_users(engine, record.name),
    }


def prune_volumes(engine: Engine) -> list[str]:
    """Remove every volume no container mounts; return their names."""
    removed = []
    for record in engine.db.volumes():
        if not volume_users(engine, record.name):
            remove_volume(engine, record.name)
            removed.append(record.name)
    return removed
