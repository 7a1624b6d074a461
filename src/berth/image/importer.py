"""Images made here rather than pulled: ``berth import`` (a root filesystem tarball or directory
becomes a one-layer image), and the shared steps ``berth commit`` and ``berth load`` use to store
and name an image.

Every blob goes through the content store's verifying ingest under a lease, so garbage collection
cannot take it before the image record points at it; a bad input aborts the ingest, leaving no blob
and no record behind.

    result = import_image(images, Path("rootfs.tar.gz"), "busybox:1", changes=["CMD [\\"sh\\"]"])
    result.name, result.manifest.digest, result.image_id
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from berth.errors import BerthError, NotFound
from berth.image.catalog import local_name
from berth.image.changes import apply_changes
from berth.image.images import ImageStore
from berth.image.layers import (
    Compression,
    EntryType,
    InvalidLayer,
    LayerReader,
    LayerWriter,
    PackResult,
    TarReader,
    TarWriter,
    Writable,
    pack_tree,
)
from berth.image.store.leases import Lease
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.image_config import ContainerConfig, History, ImageConfig
from berth.spec.manifest import ImageManifest
from berth.spec.platform import Platform, host
from berth.spec.reference import Reference

#: The repository under which images without a name are recorded, pinned by manifest digest
#: (image records need a reference; podman shows such images as ``<none>``).
UNTAGGED_REPOSITORY = "localhost/berth-untagged"
#: Leases of interrupted imports expire on their own.
_LEASE_SECONDS = 6 * 3600
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class StoredImage:
    """An image written to the store: its record name, manifest descriptor and config digest."""

    name: str
    manifest: Descriptor
    config: Descriptor

    @property
    def image_id(self) -> str:
        """The image ID as podman shows it: the config digest's hex."""
        return self.config.digest.encoded


def untagged_name(manifest: Digest) -> str:
    """The record name of an image that has no name of its own."""
    return f"{UNTAGGED_REPOSITORY}@{manifest}"


def is_untagged(name: str) -> bool:
    """Whether a record name is an untagged (``<none>``) image's."""
    return name.startswith(UNTAGGED_REPOSITORY + "@")


def now_rfc3339() -> str:
    """The current UTC time as config.md's ``created`` wants it (RFC 3339)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_image(images: ImageStore, name: str | None, target: Descriptor) -> str:
    """Point ``name`` (or, without one, an untagged record) at ``target``; return the record name.

    As in podman, an image that loses its last name to the new one stays, untagged; an untagged
    record of ``target`` goes once it has a name.
    """
    records = images.list()
    if name is None:
        named = next((r.name for r in records if r.target.digest == target.digest), None)
        if named is not None:
            return named  # already recorded: an untagged record would only duplicate it
        key = untagged_name(target.digest)
        images.put(key, target)
        return key
    key = str(Reference.parse(name))
    old = next((r for r in records if r.name == key), None)
    displaced = old is not None and old.target.digest != target.digest
    if (
        old is not None
        and displaced
        and not any(r.target.digest == old.target.digest for r in records if r.name != key)
    ):
        images.put(untagged_name(old.target.digest), old.target)
    images.put(key, target)
    with contextlib.suppress(NotFound):
        images.delete(untagged_name(target.digest))
    return key


@contextlib.contextmanager
def store_lease(images: ImageStore) -> Iterator[Lease]:
    """A lease that keeps what an import writes until its record exists; released afterwards."""
    lease = images.content.leases.create(expires_in=_LEASE_SECONDS)
    try:
        yield lease
    finally:
        images.content.leases.delete(lease.id)


def write_layer_blob(
    images: ImageStore, lease: Lease, produce: Callable[[Writable], PackResult]
) -> tuple[Descriptor, Digest]:
    """Run ``produce`` into a content-store ingest; return the layer's descriptor and diffID.

    If ``produce`` fails the ingest is thrown away, so nothing of the layer stays in the store.
    """
    with images.content.writer(f"layer-{secrets.token_hex(8)}", lease=lease).discarded_on_error() as writer:
        result = produce(writer)
        digest = writer.commit(result.size, result.digest)
    return Descriptor(result.media_type, digest, result.size), result.diff_id


def store_image(
    images: ImageStore,
    lease: Lease,
    config: ImageConfig,
    layers: Sequence[Descriptor],
    name: str | None,
    docker: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> StoredImage:
    """Store ``config`` and a manifest of ``layers`` (OCI, or Docker schema 2) with
    ``annotations``, then record it."""
    config_bytes = config.to_bytes()
    config_type = mediatypes.DOCKER_CONFIG if docker else mediatypes.OCI_CONFIG
    config_desc = Descriptor.of(config_type, config_bytes)
    images.content.put(config_bytes, config_desc, lease=lease)
    manifest_type = mediatypes.DOCKER_MANIFEST if docker else mediatypes.OCI_MANIFEST
    manifest = ImageManifest(
        config=config_desc, layers=tuple(layers), media_type=manifest_type, annotations=annotations or {}
    )
    manifest_desc = manifest.descriptor()
    images.content.put(manifest.to_bytes(), manifest_desc, lease=lease)
    key = record_image(images, name, manifest_desc)
    return StoredImage(key, manifest_desc, config_desc)


def import_image(
    images: ImageStore,
    source: Path,
    reference: str | None = None,
    *,
    changes: Sequence[str] = (),
    message: str = "",
    platform: Platform | None = None,
    source_name: str = "",
) -> StoredImage:
    """Make a one-layer image from ``source``: a directory, or a tar (plain, gzip, zstd, xz, bzip2).

    The layer is written as tar+gzip; the config comes from ``changes`` (``--change``), its history
    entry carries ``message`` (and ``source_name``, default the file's name). ``reference`` names
    the image (untagged without one; a short name goes under ``localhost/``, see ``local_name``). Raises
    ``NotFound`` for a missing source, ``InvalidLayer`` for a corrupt tarball, ``InvalidArgument``
    for a bad reference or change; each before anything is recorded.
    """
    name = local_name(reference) if reference else None
    container_config = apply_changes(ContainerConfig(), changes)
    if not source.exists():
        raise NotFound(f"import source {source} does not exist")
    plat = platform or host()
    label = source_name or source.name
    with store_lease(images) as lease:
        if source.is_dir():
            layer, diff_id = write_layer_blob(images, lease, lambda out: pack_tree(source, out))
        else:
            try:
                layer, diff_id = write_layer_blob(images, lease, lambda out: repack_tarball(source, out))
            except InvalidLayer as err:
                raise InvalidLayer(str(err).replace(str(source), label)) from None
        created = now_rfc3339()
        config = ImageConfig(
            architecture=plat.architecture,
            os=plat.os,
            variant=plat.variant,
            diff_ids=(diff_id,),
            config=container_config,
            created=created,
            history=(History(created=created, created_by=f"berth import {label}", comment=message),),
        )
        return store_image(images, lease, config, [layer], name)


class _Decompressed:
    """An xz or bzip2 stream read as a plain one; its errors become ``InvalidLayer``."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        # Closed with ``raw``: these wrappers hold no descriptor of their own.
        self._stream = lzma.LZMAFile(raw) if kind == "xz" else bz2.BZ2File(raw)  # noqa: SIM115

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except (lzma.LZMAError, OSError, EOFError) as err:
            raise InvalidLayer(f"corrupt compressed tarball: {err}") from None


def _entry_name(name: str, what: str) -> str:
    # layer.md#changesets: names are relative to the root; "./x" and "/x" both mean "x".
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise InvalidLayer(f"tarball {what} {name!r} has a '..' component")
    return "/".join(parts)


def _reencode(tar_reader: TarReader, tar: TarWriter) -> int:
    """Copy every entry but the root, names made relative; return how many were written."""
    count = 0
    for entry in tar_reader:
        entry.name = _entry_name(entry.name, "entry")
        if not entry.name:
            continue
        if entry.type is EntryType.DIR:
            entry.name += "/"
        elif entry.type is EntryType.HARDLINK:
            entry.linkname = _entry_name(entry.linkname, "hard link target")
        count += 1
        regular = entry.type is EntryType.REGULAR
        tar.add(entry, (bytes(p) for p in tar_reader.data_pieces()) if regular else None)
    tar.close()
    return count


def repack_tarball(source: Path, out: Writable) -> PackResult:
    """Re-encode a root filesystem tarball as a tar+gzip layer into ``out`` (entries checked,
    names made relative; the root entry itself is dropped)."""
    with open(source, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        if not head:
            raise InvalidLayer(f"{source} is empty, not a tarball")
        blob: BinaryIO | _Decompressed = raw
        if head.startswith(_XZ_MAGIC):
            blob = _Decompressed(raw, "xz")
        elif head.startswith(_BZIP2_MAGIC):
            blob = _Decompressed(raw, "bzip2")
        reader = LayerReader(blob)
        layer = LayerWriter(out, Compression.GZIP)
        try:
            count = _reencode(TarReader(reader.chunks()), TarWriter(layer.write))
            layer.close()
        except BaseException as err:
            layer.abort()  # stop the compressor thread before the caller drops the ingest
            if isinstance(err, BerthError):
                raise InvalidLayer(f"{source}: {err}") from None
            raise
    return PackResult.of(layer, count)
