"""Containers and scratch space a process makes for its own work (a build's RUN steps), and the
sweep of what such a process left when it died (a build killed with SIGKILL).

A build's RUN container carries its owner (the process's pid and start time) in an annotation,
as the roots it prepares (``owned_root_key``) and the snapshots it holds already do. ``ps`` lists
such containers only with ``--external``, as podman lists buildah's; once the owner is gone,
``sweep_dead_owners`` removes them with the owner's roots, holds and scratch directories.

    opts = CreateOptions(..., annotations=owner_annotations())
    sweep_dead_owners(engine)   # at a build's start, in ps, image prune and system prune
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from berth.engine.engine import Engine
from berth.engine.metadata import ContainerRecord
from berth.errors import BerthError

#: The annotation naming the process a container was made for (``owned-PID-START``).
OWNER_ANNOTATION = "io.berth.owner"


def owner_annotations() -> dict[str, str]:
    """The annotations that mark a container as the calling process's own."""
    from berth.engine.images.store import owned_root_key

    return {OWNER_ANNOTATION: owned_root_key("container")}


def owner_of(record: ContainerRecord) -> str | None:
    """The owner key of a container made for a process's own work, or None for a user's."""
    options = record.config.get("options") or {}
    annotations = options.get("annotations") or {}
    owner = annotations.get(OWNER_ANNOTATION)
    return owner if isinstance(owner, str) else None


def scratch_root(root: Path) -> Path:
    """Where processes keep their scratch directories under the storage root ``root``."""
    return root / "tmp"


@contextlib.contextmanager
def owned_scratch(root: Path, what: str) -> Iterator[Path]:
    """A new scratch directory (0700) under the storage root ``root`` for the ``with`` block,
    named after the calling process so that ``sweep_dead_owners`` removes it if the process dies
    inside the block."""
    from berth.engine.images.store import owned_root_key

    base = scratch_root(root)
    base.mkdir(parents=True, exist_ok=True)
    path = base / owned_root_key(what)
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_dead_owners(engine: Engine) -> list[str]:
    """Remove what processes that died made for their own work: their containers (stopped at
    once if still running), roots, snapshot holds and scratch directories. What live processes
    own is never touched. Returns the ids of the containers removed."""
    from berth.engine.containers.remove import remove_container
    from berth.engine.images.store import held_chains, owner_lives, release_dead_owned_roots

    removed = []
    for record in engine.db.containers():
        owner = owner_of(record)
        if owner is not None and not owner_lives(owner):
            with contextlib.suppress(BerthError):
                remove_container(engine, record.id, force=True, volumes=True)
                removed.append(record.id)
    # The containers first: a RUN's container runs on its step's root.
    release_dead_owned_roots(engine.config)
    held_chains(engine.config)  # drops the records of dead holders
    scratch = scratch_root(engine.config.root)
    for entry in scratch.iterdir() if scratch.is_dir() else []:
        if not owner_lives(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
    return removed
