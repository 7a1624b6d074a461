"""``oci:DIR[:REF]``: an OCI image layout directory (image-spec image-layout.md), via ``ImageLayout``.

``REF`` is the ``org.opencontainers.image.ref.name`` annotation of an ``index.json`` entry (or a
digest), as skopeo writes and reads it. Blobs go through the layout's verifying ingest and are
renamed into ``blobs/`` only once their size and digest match, so a failed copy leaves no partial or
wrong blob; ``index.json`` is edited under the layout's lock. The layout is created at the first
write, so a copy that fails before writing anything leaves no directory behind.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.errors import AlreadyExists, DigestMismatch, InvalidArgument, NotFound
from berth.image.layout import LAYOUT_FILE, ImageLayout, check_ref_name
from berth.image.store.content import ContentStore, LeaseRef
from berth.spec.descriptor import Descriptor

_READ_SIZE = 1 << 20


def read_manifest(blobs: ContentStore, desc: Descriptor) -> RawManifest:
    """A manifest blob, checked against its descriptor's digest and size."""
    data = blobs.read(desc.digest)
    if len(data) != desc.size:
        raise DigestMismatch(f"manifest {desc.digest} has {len(data)} bytes, its descriptor says {desc.size}")
    return RawManifest(data, desc.media_type)


async def stream_blob(blobs: ContentStore, desc: Descriptor) -> AsyncIterator[bytes]:
    """A stored blob's bytes in chunks."""
    with blobs.open(desc.digest) as fh:
        while chunk := fh.read(_READ_SIZE):
            yield chunk


async def ingest_blob(
    blobs: ContentStore, desc: Descriptor, chunks: AsyncIterator[bytes], lease: LeaseRef = None
) -> None:
    """Write a stream through a verifying ingest; publish it only if size and digest match."""
    try:
        writer = blobs.writer(
            f"copy-{desc.digest.encoded}-{secrets.token_hex(4)}", desc.digest, desc.size, lease
        )
    except AlreadyExists:
        return  # already stored (and now held by ``lease``)
    with writer.discarded_on_error():
        async for chunk in chunks:
            writer.write(chunk)
        actual = writer.digest()
        if actual != desc.digest:
            raise DigestMismatch(f"blob content hashes to {actual}, expected {desc.digest}")
        # Waits for the disk (fsyncs, renames, removing the ingest) go to a thread, so the other
        # blobs' downloads keep flowing meanwhile. A commit that records a lease stays on this
        # thread, which owns the store's database connection: only the data's fsync goes ahead.
        if lease is None:
            await _in_thread(writer.commit, desc.size, desc.digest)
        else:
            await _in_thread(writer.sync)  # the commit's own fsync then finds nothing to flush
            writer.commit(desc.size, desc.digest)


async def _in_thread(work: Callable[..., object], *args: object) -> None:
    """Run ``work`` in a thread. A cancelled copy waits for it before going on to discard the
    ingest: until it returns, the thread owns the writer's file descriptors."""
    job = asyncio.ensure_future(asyncio.to_thread(work, *args))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise


class OCISource(ImageSource):
    """Reads one image of an OCI layout."""

    transport = "oci"

    def __init__(self, root: Path, ref: str = "") -> None:
        self.root = root
        self.ref = ref
        self._layout: ImageLayout | None = None

    @property
    def layout(self) -> ImageLayout:
        """The layout, opened (and checked) on first use."""
        if self._layout is None:
            self._layout = ImageLayout(self.root)
        return self._layout

    async def top_manifest(self) -> RawManifest:
        """The manifest or index ``REF`` names, or the only image when no ``REF`` is given."""
        if self.ref:
            entry = self.layout.find(self.ref)
        else:
            entries = self.layout.index().manifests
            if len(entries) != 1:
                raise InvalidArgument(
                    f"OCI layout {self.root} holds {len(entries)} images; name one as oci:DIR:REF"
                )
            entry = entries[0]
        return read_manifest(self.layout.blobs, entry)

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """A manifest blob, verified."""
        return read_manifest(self.layout.blobs, desc)

    def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """Stream a blob file."""
        return stream_blob(self.layout.blobs, desc)


class OCIDestination(ImageDestination):
    """Writes one image into an OCI layout (created if missing), tagged ``REF`` in ``index.json``."""

    transport = "oci"
    verifies_content = True  # the layout's ingest publishes only matching blobs

    def __init__(self, root: Path, ref: str = "") -> None:
        self.root = root
        self.ref = check_ref_name(ref) if ref else ""
        self._layout: ImageLayout | None = None

    @property
    def layout(self) -> ImageLayout:
        """The layout, created on first use."""
        if self._layout is None:
            self._layout = ImageLayout.create(self.root)
        return self._layout

    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether the layout has the blob with the right size (no layout yet: no blobs)."""
        if self._layout is None and not (self.root / LAYOUT_FILE).exists():
            return False
        try:
            return self.layout.blobs.info(desc.digest).size == desc.size
        except NotFound:
            return False

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Write the blob through the layout's ingest."""
        await ingest_blob(self.layout.blobs, desc, chunks)

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Write a manifest blob."""
        self.layout.blobs.put(manifest.data, manifest.descriptor())

    async def commit(self, top: RawManifest) -> None:
        """Write the top manifest and list it in ``index.json``, moving the tag from any other entry."""
        await self.put_manifest(top)
        self.layout.add(top.descriptor(), self.ref or None)
