"""The two halves every transport implements: where an image comes from, and where it goes.

A source hands out the top-level manifest (or index) of the image it names, manifests by digest,
and blob streams. A destination checks for and accepts blobs and manifests, then ``commit`` records
the top-level manifest under the destination's name. Blob streams reaching a destination are already
being verified by the copier: the stream raises ``DigestMismatch`` at its end if the content is
wrong, so a destination publishes a blob only after the stream is exhausted without error (or,
with ``verifies_content``, after checking the digest itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest


@dataclass(frozen=True)
class RawManifest:
    """A manifest's exact bytes and media type (its digest is computed from the bytes)."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> Digest:
        """The sha256 digest of the bytes."""
        return Digest.of(self.data)

    def descriptor(self) -> Descriptor:
        """A descriptor of this manifest."""
        return Descriptor.of(self.media_type, self.data)


class ImageSource(ABC):
    """Where an image is read from."""

    #: The transport's name as written in ``berth copy`` (``docker``, ``oci``, ...).
    transport: str = ""

    async def __aenter__(self) -> ImageSource:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release what the source holds."""

    @abstractmethod
    async def top_manifest(self) -> RawManifest:
        """The manifest or index the source's name refers to."""

    @abstractmethod
    async def manifest(self, desc: Descriptor) -> RawManifest:
        """A manifest that the top-level index lists (bytes verified against ``desc``)."""

    @abstractmethod
    def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """The blob's bytes as a stream (the copier verifies them)."""


class ImageDestination(ABC):
    """Where an image is written to."""

    transport: str = ""
    #: False where the format holds one image manifest only (docker-archive).
    accepts_index: bool = True
    #: True where ``put_blob`` itself checks size and digest before publishing anything (the
    #: content store's ingests do), so the copier need not hash the stream as well.
    verifies_content: bool = False

    async def __aenter__(self) -> ImageDestination:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close(ok=exc_type is None)

    async def close(self, ok: bool) -> None:  # noqa: B027 - most destinations hold nothing to release
        """Release what the destination holds; ``ok`` is False when the copy failed."""

    @abstractmethod
    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether the destination already has this blob (so it need not be copied)."""

    @abstractmethod
    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Store a blob from a verifying stream; ``source`` lets a registry mount instead of copy."""

    @abstractmethod
    async def put_manifest(self, manifest: RawManifest) -> None:
        """Store a manifest that the top-level one refers to (by digest only)."""

    @abstractmethod
    async def commit(self, top: RawManifest) -> None:
        """Store the top-level manifest and record it under the destination's name or tag."""
