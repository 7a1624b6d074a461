"""``berth commit``: a container's changes become a new layer on top of its image.

The changeset comes from the container's overlay upper directory (image-spec layer.md#changesets:
whiteouts for deletions, opaque markers for replaced directories), written as tar+gzip through the
content store's verifying ingest. The new config is the base image's with the layer's diffID
appended to ``rootfs.diff_ids``, one more ``history`` entry and the ``--change`` edits; the new
manifest lists the base layers plus the new one (config.md#properties, manifest.md).

    stored = commit_upper(images, Path("upper"), "busybox:1", reference="busybox:2", changes=["USER 1000"])
    stored = commit_snapshot(images, snapshotter, container_id, "busybox:1", reference="busybox:2")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from berth.errors import BerthError, NotFound
from berth.image.catalog import local_name, resolve_local
from berth.image.changes import apply_changes
from berth.image.images import ImageStore, ResolvedImage
from berth.image.importer import StoredImage, now_rfc3339, store_image, store_lease, write_layer_blob
from berth.image.layers import PackResult, Writable, pack_overlay_upper
from berth.image.snapshots import Snapshotter
from berth.image.snapshots.chainid import chain_id
from berth.spec import mediatypes, records
from berth.spec.digest import Digest
from berth.spec.image_config import History


def top_chain_id(resolved: ResolvedImage) -> Digest | None:
    """The ChainID of an image's whole layer stack (config.md#layer-chainid); ``None`` if it has none."""
    chain: Digest | None = None
    for diff_id in resolved.config.diff_ids:
        chain = chain_id(chain, diff_id)
    return chain


def commit_layer(
    images: ImageStore,
    base: ResolvedImage,
    produce: Callable[[Writable], PackResult],
    *,
    reference: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    author: str = "",
    created_by: str = "berth commit",
) -> StoredImage:
    """Store the layer ``produce`` writes on top of ``base`` as a new image named ``reference``.

    ``reference`` and ``changes`` are checked before anything is written.
    """
    name = local_name(reference) if reference else None
    old = base.config
    container_config = apply_changes(old.config, changes)
    docker = base.manifest.is_docker
    with store_lease(images) as lease:
        layer, diff_id = write_layer_blob(images, lease, produce)
        if docker:  # keep the base's format: a Docker manifest lists Docker layer types
            layer = records.replace(layer, media_type=mediatypes.DOCKER_LAYER_GZIP)
        created = now_rfc3339()
        step = History(created=created, created_by=created_by, author=author, comment=message)
        config = records.replace(
            old,
            diff_ids=(*old.diff_ids, diff_id),
            config=container_config,
            created=created,
            author=author or old.author,
            history=(*old.history, step),
        )
        return store_image(images, lease, config, [*base.manifest.layers, layer], name, docker=docker)


def commit_upper(
    images: ImageStore,
    upper: Path,
    base: str,
    *,
    reference: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    author: str = "",
) -> StoredImage:
    """Commit an overlayfs upper directory (mounted without redirect_dir and metacopy) on top of the
    image ``base``."""
    if not upper.is_dir():
        raise NotFound(f"upper directory {upper} does not exist")
    resolved = resolve_local(images, base)
    return commit_layer(
        images,
        resolved,
        lambda out: pack_overlay_upper(upper, out),
        reference=reference,
        changes=changes,
        message=message,
        author=author,
    )


def base_image(images: ImageStore, parent: Digest | None, hint: str) -> ResolvedImage:
    """The image whose layers a container root with snapshot ``parent`` sits on: ``hint`` (the name
    the container was created from) if it still has those layers, else any image that does."""
    candidates = [hint, *(r.name for r in images.list())]
    for name in candidates:
        try:
            resolved = resolve_local(images, name)
        except BerthError:
            continue  # a missing or broken image is simply not the base
        if top_chain_id(resolved) == parent:
            return resolved
    raise NotFound(f"no image in the store has the layers the container was created from ({hint})")


def commit_snapshot(
    images: ImageStore,
    snapshotter: Snapshotter,
    key: str,
    base: str,
    *,
    reference: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    author: str = "",
) -> StoredImage:
    """Commit the container root ``key`` of ``snapshotter`` (the engine's per-container snapshot)
    on top of the image it was made from (``base`` names it)."""
    active = snapshotter.active(key)
    resolved = base_image(images, active.parent, base)
    return commit_layer(
        images,
        resolved,
        lambda out: snapshotter.diff(key, out),
        reference=reference,
        changes=changes,
        message=message,
        author=author,
    )
