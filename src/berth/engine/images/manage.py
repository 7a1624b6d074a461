"""Removing images from the store: ``rmi`` (one name, or an image with all its names) and
``image prune``, with the events podman gives and the unpacked layers no image needs any more.
Shared by ``berth`` and the Docker API, which present the results each in their own words."""

from __future__ import annotations

from berth.engine.event_log import object_event
from berth.errors import InvalidState

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.engine.config import EngineConfig
    from berth.image.catalog import CatalogImage
    from berth.image.images import ImageStore
    from berth.image.store.gc import GCReport


def users_by_image(config: EngineConfig, images: list[CatalogImage]) -> dict[str, list[str]]:
    """Image ID (hex) -> names of the containers made from it."""
    from berth.engine.images.store import image_users

    chains = {f"sha256:{i.id}": i.chain_id for i in images}
    return {k.removeprefix("sha256:"): v for k, v in image_users(config, chains).items()}


def prune_unused_snapshots(config: EngineConfig, store: ImageStore) -> None:
    """Drop the unpacked layers no image in ``store`` needs."""
    from berth.engine.images.store import prune_snapshots
    from berth.image.catalog import list_images, needed_chain_ids

    prune_snapshots(config, needed_chain_ids(list_images(store)))


def remove_image(
    config: EngineConfig,
    store: ImageStore,
    text: str,
    force: bool,
    remove_containers: Callable[[list[str]], None],
) -> list[tuple[str, str]]:
    """Remove the name ``text`` (just the tag, if the image has others) or the image ``text``; what
    went, as ``("Untagged", NAME)`` and ``("Deleted", ID)``. An image containers use is refused
    unless ``force``, which calls ``remove_containers`` with their names first (podman rmi --force).
    The caller collects the store's garbage afterwards."""
    from berth.image.catalog import find_image, list_images

    entry, record = find_image(store, text)
    if record is not None and len(entry.records) > 1:
        store.delete(record.name)
        for status in ("untag", "remove"):  # podman's pair, though the image stays under its other names
            object_event(config, "image", status, record.name, entry.id)
        return [("Untagged", record.name)]
    if record is None and len(entry.names) > 1 and not force:
        raise InvalidState(
            f"image {text} has several names ({', '.join(entry.names)}): remove them by name, or use --force"
        )
    users = users_by_image(config, list_images(store)).get(entry.id, [])
    if users:
        if not force:
            raise InvalidState(
                f"image {text} is in use by container(s) {', '.join(users)}: "
                "remove them first, or use --force"
            )
        remove_containers(users)
    for rec in entry.records:
        store.delete(rec.name)
    for name in entry.names:
        object_event(config, "image", "untag", name, entry.id)
    object_event(config, "image", "remove", entry.names[0] if entry.names else entry.id, entry.id)
    return [*(("Untagged", n) for n in entry.names), ("Deleted", entry.id)]


def prune_images(
    config: EngineConfig, store: ImageStore, everything: bool
) -> tuple[list[CatalogImage], GCReport]:
    """Remove the images no container uses: untagged ones, or with ``everything`` all of them. The
    images removed and what the store's garbage collection freed."""
    from berth.image.catalog import list_images

    entries = list_images(store)
    users = users_by_image(config, entries)
    doomed = [e for e in entries if e.id not in users and (everything or not e.names)]
    for entry in doomed:
        for rec in entry.records:
            store.delete(rec.name)
    report = store.gc()
    prune_unused_snapshots(config, store)
    return doomed, report
