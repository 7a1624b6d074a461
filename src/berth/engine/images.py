"""A container's root filesystem from an image: the seam between the engine and ``berth.image``.

Until the image store's snapshotter is wired in here, containers run from ``--rootfs DIR`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from berth.engine.oci_config import ImageSettings
from berth.errors import Unsupported

if TYPE_CHECKING:
    from berth.engine.engine import Engine


def image_rootfs(engine: Engine, reference: str, cid: str, mountpoint: Path) -> tuple[Path, ImageSettings]:
    """Mount the container's root (the image's layers plus its own upper layer) at ``mountpoint``."""
    raise Unsupported(f"cannot run image {reference}: image storage is not wired in yet; use --rootfs DIR")


def release_rootfs(engine: Engine, cid: str, mountpoint: Path) -> None:
    """Unmount and delete the container's writable layer."""
    unmount_rootfs(mountpoint)


def unmount_rootfs(mountpoint: Path) -> None:
    """Unmount the container's root if mounted."""
    if mountpoint.is_mount():
        import subprocess

        subprocess.run(["umount", str(mountpoint)], check=False, capture_output=True)
