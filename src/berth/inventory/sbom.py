"""Make the inventory of an image in the store: read its layers once, hand the kept files to
every package source, and list what they found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from berth.inventory.model import Inventory, Package

if TYPE_CHECKING:
    from collections.abc import Iterator

    from berth.image.images import ImageStore, ResolvedImage
    from berth.inventory.layerfiles import Noted, Watch
    from berth.inventory.sources._common import Warn


def inventory(store: ImageStore, name: str, warn: Warn) -> Inventory:
    """The packages of the image ``name`` (a name or an ID, as ``berth image inspect`` takes);
    ``NotFound`` for an unknown image; unreadable records are skipped and passed to ``warn``."""
    from berth.errors import BerthError
    from berth.image.catalog import find_image

    entry, _ = find_image(store, name)
    if entry.resolved is None:
        raise BerthError(f"image {name}: {entry.error}")
    return inventory_of(store, entry.resolved, name, warn)


def inventory_of(
    store: ImageStore,
    image: ResolvedImage,
    name: str,
    warn: Warn,
    watch: Watch | None = None,
    noted: dict[str, Noted] | None = None,
) -> Inventory:
    """The packages of a resolved image, its layers read as streams from the content store; with
    ``watch``, what it notes of the image's regular files goes in ``noted`` in the same read."""
    from berth.inventory import osrelease
    from berth.inventory.layerfiles import Entries, collect_files, tar_entries
    from berth.inventory.sources import PROBE, SOURCES
    from berth.inventory.sources._common import ImageFiles

    def wants(path: str) -> bool:
        return path in osrelease.PATHS or any(source.wants(path) for source in SOURCES)

    def layers() -> Iterator[Entries]:
        for descriptor in image.manifest.layers:
            with store.content.open(descriptor.digest) as blob:
                yield tar_entries(blob)

    files = collect_files(layers(), wants, PROBE, watch, noted)
    diff_ids = tuple(str(d) for d in image.config.diff_ids)
    view = ImageFiles(files, diff_ids, osrelease.distro(files))
    found: list[Package] = []
    for source in SOURCES:
        found.extend(source.packages(view, warn))
    return Inventory(
        name=name,
        digest=str(image.descriptor.digest),
        created=image.config.created or "",
        layers=diff_ids,
        packages=tuple(sorted(found, key=lambda p: p.sort_key)),
        distro=view.distro,
    )
