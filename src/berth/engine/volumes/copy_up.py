"""Podman's copy-up: a new volume starts with what the container's image has at its mount point."""

from __future__ import annotations

import os
from pathlib import Path

from berth.errors import BerthError


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
