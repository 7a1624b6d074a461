"""Named volumes: directories under the storage root that outlive the containers using them.

Like podman's ``local`` driver, a volume ``NAME`` keeps its data in ``<root>/volumes/NAME/_data``
and is bind-mounted into containers; the metadata database records it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from berth.engine.config import EngineConfig
from berth.engine.metadata import VolumeRecord
from berth.engine.options import check_name
from berth.errors import BerthError, InvalidState

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
    return record


def copy_up(rootfs: Path, destination: str, data: Path) -> None:
    """Copy what the image has at ``destination`` into a new, empty volume's ``data`` (podman's
    copy-up), keeping owners, modes, times and links; nothing if the image has no directory there."""
    from berth.engine.rootfs import resolve_in_root

    source = resolve_in_root(rootfs, destination)  # the image's symlinks stay inside its root
    if not source.is_dir() or source.is_symlink() or any(data.iterdir()):
        return
    import subprocess

    done = subprocess.run(["cp", "-a", "--", f"{source}/.", str(data)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BerthError(f"cannot copy {destination} of the image into its volume: {done.stderr.strip()}")
    # the volume's root takes the owner and mode of the image's directory
    st = source.stat()
    os.chown(data, st.st_uid, st.st_gid)
    os.chmod(data, st.st_mode & 0o7777)


def volume_users(engine: Engine, name: str) -> list[str]:
    """Names of the containers that mount volume ``name``."""
    data = str(volume_data_dir(engine.config, name))
    return [c.name for c in engine.db.containers() if any(m.get("source") == data for m in c.mounts)]


def remove_volume(engine: Engine, name: str, force: bool = False) -> None:
    """Delete volume ``name`` and its data; refused while a container uses it, unless ``force``."""
    from berth.engine.lifecycle import remove_container

    record = engine.db.volume(name)
    users = volume_users(engine, name)
    if users and not force:
        raise InvalidState(f"volume {name} is in use by container(s) {', '.join(users)}")
    for user in users:
        remove_container(engine, user, force=True)
    engine.db.remove_volume(record.name)
    shutil.rmtree(Path(record.mountpoint).parent, ignore_errors=True)


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
