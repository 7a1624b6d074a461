"""ImageService: ListImages, ImageStatus, PullImage, RemoveImage, ImageFsInfo, over Berth's image
store (``berth.image``), as ``berth images``, ``pull`` and ``rmi`` use it.

An image's CRI id is its config digest (``sha256:...``), the same ``image_ref`` and ``image_id``
that ContainerStatus and ListContainers report for a container made from it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services, require
from berth.engine.config import EngineConfig
from berth.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.image.catalog import CatalogImage
    from berth.image.images import ImageStore


@contextlib.contextmanager
def _store(config: EngineConfig) -> Iterator[ImageStore]:
    from berth.engine.images.store import images_root
    from berth.image.images import ImageStore

    store = ImageStore(images_root(config))
    try:
        yield store
    finally:
        store.close()


def _image(entry: CatalogImage) -> Any:
    return pb.Image(
        id=f"sha256:{entry.id}",
        repo_tags=entry.names,
        repo_digests=entry.repo_digests,
        size=entry.size,
        spec=pb.ImageSpec(image=f"sha256:{entry.id}"),
        **_user(entry),
    )


def _user(entry: CatalogImage) -> dict[str, Any]:
    """The image config's ``User`` as the CRI splits it: a numeric uid, else a user name."""
    user = entry.resolved.config.config.user if entry.resolved is not None else ""
    name = user.partition(":")[0]
    if name.isdigit():
        return {"uid": pb.Int64Value(value=int(name))}
    return {"username": name}


def list_images(services: Services, request: Any) -> Any:
    """Every image in the store, or only the one ``filter.image`` names (none if it is not known:
    an empty list, as CRI-O answers, not an error)."""
    from berth.image.catalog import list_images as catalog

    with _store(services.engine_config) as store:
        wanted = request.filter.image.image if request.HasField("filter") else ""
        if not wanted:
            return pb.ListImagesResponse(images=[_image(e) for e in catalog(store)])
        try:
            return pb.ListImagesResponse(images=[_image(find(store, wanted))])
        except NotFound:
            return pb.ListImagesResponse()


def image_status(services: Services, request: Any) -> Any:
    """The image ``image.image`` names (a reference or an id); an empty answer if it is not known,
    as the CRI asks (not an error)."""
    text = require(request.image.image, "image.image")
    with _store(services.engine_config) as store:
        try:
            entry = find(store, text)
        except NotFound:
            return pb.ImageStatusResponse()
        info = {}
        if request.verbose and entry.resolved is not None:
            info["manifestDigest"] = entry.manifest_digest
        return pb.ImageStatusResponse(image=_image(entry), info=info)


def pull_image(services: Services, request: Any) -> Any:
    """Copy ``image.image`` from its registry into the store (registries.conf mirrors and aliases,
    auth.json, or the request's credentials); the image's id."""
    from berth.distribution.credentials import Credentials
    from berth.distribution.shortnames import pull_name
    from berth.distribution.transports import TransportContext, copy
    from berth.engine.images.pull import pull_options
    from berth.image.catalog import find_image

    text = require(request.image.image, "image.image")
    auth = request.auth
    credentials = Credentials(auth.username, auth.password) if auth.username else None
    config = services.engine_config
    options = pull_options(config)  # the signature policy, as on every pull into the store

    def attempt(ref: Any, conf: Any) -> None:
        ctx = TransportContext(
            registries_conf=conf,
            root=config.root,
            authfile=services.config.auth_file or None,
            credentials=credentials,
        )
        copy(f"docker://{ref}", f"berth:{ref}", ctx, options)

    for tries_left in reversed(range(3)):
        name = pull_name(text, attempt, berth_file=services.config.registries_conf or None)[0]
        try:
            with _store(config) as store:
                entry = find_image(store, str(name))[0]
            break
        except NotFound:  # a RemoveImage of it came between the copy and here: pull it again
            if not tries_left:
                raise
    return pb.PullImageResponse(image_ref=f"sha256:{entry.id}")


def pull_missing(services: Services, name: str) -> None:
    """Pull ``name`` as PullImage does (the server's registries.conf with its mirrors, its auth file,
    the signature policy) unless the store has it. RunPodSandbox's sandbox image: the kubelet never
    pulls it, so the runtime does, as containerd does."""
    with _store(services.engine_config) as store:
        try:
            find(store, name)
            return
        except NotFound:
            pass
    pull_image(services, pb.PullImageRequest(image=pb.ImageSpec(image=name)))


def remove_image(services: Services, request: Any) -> Any:
    """Remove the image with every name it has; an image not known succeeds, as the CRI asks."""
    from berth.engine.images.store import prune_snapshots
    from berth.image.catalog import list_images as catalog
    from berth.image.catalog import needed_chain_ids

    text = require(request.image.image, "image.image")
    with _store(services.engine_config) as store:
        try:
            entry = find(store, text)
        except NotFound:
            return pb.RemoveImageResponse()
        for record in entry.records:
            with contextlib.suppress(NotFound):  # a concurrent RemoveImage took it first
                store.delete(record.name)
        store.gc()
        prune_snapshots(services.engine_config, needed_chain_ids(catalog(store)))
    return pb.RemoveImageResponse()


def image_fs_info(services: Services, request: Any) -> Any:
    """The bytes and inodes used under the image store (``image_filesystems``) and the containers'
    directories (``container_filesystems``)."""
    from berth.engine.images.store import images_root

    now = time.time_ns()
    return pb.ImageFsInfoResponse(
        image_filesystems=[filesystem_usage(str(images_root(services.engine_config)), now)],
        container_filesystems=[filesystem_usage(str(services.engine_config.containers_dir), now)],
    )


def filesystem_usage(path: str, now: int, mountpoint: str = "") -> Any:
    """api.proto FilesystemUsage of the tree at ``path``: its bytes and inodes, on the filesystem
    the kubelet finds by ``mountpoint`` (a directory on it; ``path`` itself by default)."""
    used = inodes = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                used += os.lstat(os.path.join(root, name)).st_blocks * 512
                inodes += 1
    return pb.FilesystemUsage(
        timestamp=now,
        fs_id=pb.FilesystemIdentifier(mountpoint=mountpoint or path),
        used_bytes=pb.UInt64Value(value=used),
        inodes_used=pb.UInt64Value(value=inodes),
    )


def image_name(config: EngineConfig, text: str) -> str:
    """A name the engine can make a container from, for an image given by reference or by id."""

    with _store(config) as store:
        entry = find(store, text)
    return entry.names[0] if entry.names else text


def find(store: ImageStore, text: str) -> CatalogImage:
    """The image ``text`` names: a name, an id, or ``NAME@DIGEST`` for a manifest digest the image
    was pulled by (its ``repo_digests``); NotFound otherwise, InvalidArgument for text that is
    neither a reference nor an id."""
    from berth.image.catalog import find_image, looks_like_id, lookup_names
    from berth.image.catalog import list_images as catalog
    from berth.spec.reference import Reference

    if not looks_like_id(text):
        Reference.parse(text)  # InvalidArgument naming what is wrong with it
    try:
        return find_image(store, text)[0]
    except NotFound:
        if "@" not in text:
            raise
    wanted = {text, *lookup_names(text)}
    for entry in catalog(store):
        if wanted.intersection(entry.repo_digests):
            return entry
    raise NotFound(f"{text}: image not known")


def image_volume_source(config: EngineConfig, mount: Any) -> tuple[str, str]:
    """Where an image volume's files are on the host, and the image's CRI id: the image's layers
    merged (``Snapshotter.merged``) and, within them, ``image_sub_path`` (api.proto Mount.image).
    The mount must be read-only, and the sub path a directory of the image."""
    from berth.engine.images.store import snapshotter, unpack_layers
    from berth.errors import InvalidArgument
    from berth.fsutil import resolve_in_root

    reference = mount.image.image
    if not mount.readonly:
        raise InvalidArgument(f"mounts[] {mount.container_path}: an image volume must be readonly")
    with _store(config) as store:
        entry = find(store, reference)
        if entry.resolved is None:
            raise InvalidArgument(f"mounts[] {mount.container_path}: image {reference}: {entry.error}")
        snaps = snapshotter(config)
        top = unpack_layers(store, snaps, entry.resolved, reference)
    if top is None:
        raise InvalidArgument(f"mounts[] {mount.container_path}: image {reference} has no layers")
    tree = str(snaps.merged(top))
    source = resolve_in_root(tree, mount.image_sub_path) if mount.image_sub_path else tree
    if not os.path.isdir(source):
        raise InvalidArgument(
            f"mounts[] {mount.container_path}: image_sub_path {mount.image_sub_path!r} is not a "
            f"directory of image {reference}"
        )
    return source, f"sha256:{entry.id}"
