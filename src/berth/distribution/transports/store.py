"""``berth:REFERENCE``: Berth's own image store (``containers-storage:`` in podman's terms).

Blobs go through the content store's ingests (hashed and verified again, published atomically) under
a lease, so garbage collection cannot take them before the image record points at them; the record
is written last, under the reference's normalized name. The store lives in ``<root>/images``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.distribution.transports.oci import ingest_blob
from berth.errors import DigestMismatch
from berth.image.images import ImageStore
from berth.image.store.leases import Lease, this_process
from berth.spec.descriptor import Descriptor
from berth.spec.reference import Reference

_READ_SIZE = 1 << 20
#: Leases of interrupted copies expire on their own, so their blobs become collectable again.
_LEASE_SECONDS = 6 * 3600


def images_root(root: Path) -> Path:
    """Where Berth's image store lives under the storage root (``--root``)."""
    return root / "images"


class StoreSource(ImageSource):
    """Reads an image recorded in Berth's store."""

    transport = "berth"

    def __init__(self, root: Path, reference: Reference) -> None:
        self.images = ImageStore(images_root(root))
        self.reference = reference

    async def close(self) -> None:
        """Close the store's database."""
        self.images.close()

    async def top_manifest(self) -> RawManifest:
        """The manifest or index the image record points at."""
        target = self.images.get(str(self.reference)).target
        return await self.manifest(target)

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """A manifest from the content store, verified."""
        data = self.images.content.read(desc.digest)
        if len(data) != desc.size:
            raise DigestMismatch(
                f"manifest {desc.digest} in the store has {len(data)} bytes, expected {desc.size}"
            )
        return RawManifest(data, desc.media_type)

    async def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """Stream a blob from the content store."""
        with self.images.content.open(desc.digest) as fh:
            while chunk := fh.read(_READ_SIZE):
                yield chunk


class StoreDestination(ImageDestination):
    """Writes an image into Berth's store and records it as ``reference``."""

    transport = "berth"
    verifies_content = True  # the ingest hashes while writing and commits only a matching blob

    def __init__(self, root: Path, reference: Reference) -> None:
        self.images = ImageStore(images_root(root))
        self.reference = reference
        self._lease: Lease | None = None

    def _lease_now(self) -> Lease:
        if self._lease is None:
            # Owned by this process: a copy killed half way frees its lease at once, not in hours.
            self._lease = self.images.content.leases.create(expires_in=_LEASE_SECONDS, owner=this_process())
        return self._lease

    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether the content store has the blob (it is then held by this copy's lease)."""
        return self.images.content.protect(desc.digest, self._lease_now())

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Write through a content-store ingest, committed only once the stream proved complete."""
        await ingest_blob(self.images.content, desc, chunks, self._lease_now())

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Store a child manifest."""
        self.images.content.put(manifest.data, manifest.descriptor(), lease=self._lease_now())

    async def commit(self, top: RawManifest) -> None:
        """Store the top manifest and point the image record at it."""
        await self.put_manifest(top)
        self.images.put(str(self.reference), top.descriptor())

    async def close(self, ok: bool) -> None:
        """Release the lease (the image record now protects what was copied) and the database."""
        if self._lease is not None:
            self.images.content.leases.delete(self._lease.id)
            self._lease = None
        self.images.close()
