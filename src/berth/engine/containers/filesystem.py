"""A container's root filesystem as a whole: ``export`` it as a tar, and ``diff`` it against its image.

Both read the container's root as the host sees it (the overlay mount for an image container, the
directory for ``--rootfs``), so what a container mounted inside its own namespace (``/proc``,
volumes) is not part of it, as with podman's ``export`` and ``diff``.
"""

from __future__ import annotations

from pathlib import Path

from berth.engine.engine import Engine
from berth.engine.images.store import snapshotter
from berth.engine.metadata import ContainerRecord
from berth.engine.options import CreateOptions
from berth.errors import InvalidArgument, NotFound
from berth.image.layers import Compression, Writable, pack_tree


def _root(record: ContainerRecord) -> Path:
    root = Path(record.config["rootfs"])
    if not root.is_dir() or (CreateOptions.from_json(record.config["options"]).image and not root.is_mount()):
        raise NotFound(f"the root filesystem of container {record.name} is not available")
    return root


def export_container(engine: Engine, ref: str, out: Writable) -> None:
    """Write the container's whole root filesystem to ``out`` as an uncompressed tar."""
    pack_tree(_root(engine.db.container(ref)), out, Compression.NONE)


def container_changes(engine: Engine, ref: str) -> list[tuple[str, str]]:
    """What the container changed in its image's files: ``(kind, path)`` with kind ``A`` (added),
    ``C`` (changed) or ``D`` (deleted), parents first (podman diff)."""
    record = engine.db.container(ref)
    if not CreateOptions.from_json(record.config["options"]).image:
        raise InvalidArgument(
            f"container {record.name} runs on a root directory (--rootfs): no image to compare with"
        )
    _root(record)
    return list(snapshotter(engine.config).changes(record.id))
