"""``cp``: copy files between a container's filesystem and the host (``CONTAINER:PATH`` on one side).

A running container is reached through ``/proc/<pid>/root`` so its volumes and tmpfs mounts are
seen as the container sees them; a stopped one through its root filesystem directory. Paths inside
the container are resolved with symlinks taken relative to its root, never the host's.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE
from berth.engine.rootfs import resolve_in_root
from berth.errors import InvalidArgument, NotFound


def _split(arg: str) -> tuple[str, str] | None:
    name, sep, path = arg.partition(":")
    if sep and name and not name.startswith("/") and not name.startswith("."):
        return name, path or "/"
    return None


def path_in_container(engine: Engine, ref: str, path: str) -> Path:
    """Where ``path`` of container ``ref`` is on the host (symlinks followed inside its root). A
    stopped container's volumes and binds are not mounted: a path below one is in its source."""
    record = refresh(engine, engine.db.container(ref))
    if record.state in ACTIVE and record.pid:
        return resolve_in_root(Path(f"/proc/{record.pid}/root"), path)
    wanted = posixpath.normpath("/" + path.lstrip("/"))
    for mount in sorted(record.mounts, key=lambda m: len(m["destination"]), reverse=True):
        destination = posixpath.normpath(mount["destination"])
        if mount["type"] == "bind" and (wanted == destination or wanted.startswith(destination + "/")):
            return resolve_in_root(Path(mount["source"]), wanted[len(destination) :])
    root = Path(record.config["rootfs"])
    if not root.is_dir():
        raise NotFound(f"the filesystem of container {record.name} is not available while it is stopped")
    return resolve_in_root(root, path)


def _copy(src: Path, dst: Path) -> None:
    if not src.exists() and not src.is_symlink():
        raise NotFound(f"{src}: no such file or directory")
    if dst.is_dir():
        dst = dst / src.name
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def copy(engine: Engine, source: str, destination: str) -> None:
    """Copy ``source`` to ``destination``; exactly one of them is ``CONTAINER:PATH``."""
    src, dst = _split(source), _split(destination)
    if (src is None) == (dst is None):
        raise InvalidArgument("cp copies between a container and the host: give CONTAINER:PATH on one side")
    if src is not None:
        _copy(path_in_container(engine, *src), Path(destination))
    elif dst is not None:
        _copy(Path(source), path_in_container(engine, *dst))
