"""``commit``: a container's changes as a new image on top of its own, paused meanwhile if asked.
Shared by ``berth commit`` and the Docker API's ``POST /commit``."""

from __future__ import annotations

from collections.abc import Sequence

from berth.engine.engine import Engine
from berth.errors import BerthError, NotFound

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.image.images import ImageStore
    from berth.image.importer import StoredImage


def commit_container(
    engine: Engine,
    images: ImageStore,
    ref: str,
    *,
    reference: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    author: str = "",
    pause: bool = True,
) -> StoredImage:
    """Commit container ``ref``'s root as an image (named ``reference``, if given); a running
    container is paused while its upper directory is read, so the layer is consistent."""
    from berth.engine.containers.pause import pause_container, unpause_container
    from berth.engine.containers.state import refresh
    from berth.engine.event_log import container_event
    from berth.engine.images.store import snapshotter
    from berth.engine.metadata import RUNNING
    from berth.image.commit import commit_snapshot

    record = refresh(engine, engine.db.container(ref))
    paused = pause and record.state == RUNNING
    if paused:
        try:
            pause_container(engine, record.id)
        except BerthError:
            # its process may have ended a moment ago (the record is written after); then
            # nothing writes to its root any more
            state = engine.runtime(record.runtime).state(record.id)
            if state is not None and state.get("status") in ("running", "paused"):
                raise
            paused = False
    try:
        stored = commit_snapshot(
            images,
            snapshotter(engine.config),
            record.id,
            record.image,
            reference=reference,
            changes=changes,
            message=message,
            author=author,
        )
    except NotFound as err:
        raise NotFound(f"cannot commit container {record.name}: {err}") from None
    finally:
        if paused:
            unpause_container(engine, record.id)
    container_event(engine.config, record, "commit")
    return stored
