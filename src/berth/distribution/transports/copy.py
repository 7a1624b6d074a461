"""Copy an image from any source to any destination, verifying every blob on the way.

Manifests are copied byte for byte, so digests are preserved. From an index, either the manifest
for one platform is copied (the host's by default), or, with ``all_platforms``, the whole index.
Blobs go in parallel (bounded), each skipped if the destination already has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.errors import DigestMismatch, InvalidArgument
from berth.spec import manifest as manifest_mod
from berth.spec.descriptor import Descriptor
from berth.spec.manifest import ImageIndex, ImageManifest
from berth.spec.platform import Platform, host

#: Blobs in flight at once (skopeo copies up to 6 layers at a time).
DEFAULT_PARALLEL = 6


class CopyProgress(Protocol):
    """Receives progress events; the CLI draws bars from them."""

    def blob_started(self, desc: Descriptor) -> None:
        """A blob's transfer began."""

    def blob_advanced(self, desc: Descriptor, nbytes: int) -> None:
        """``nbytes`` more of the blob went through."""

    def blob_done(self, desc: Descriptor, skipped: bool) -> None:
        """The blob is at the destination (``skipped``: it already was)."""


@dataclass(frozen=True)
class CopyOptions:
    """How to copy: which platform from an index, or all of them; how many blobs at once."""

    platform: Platform | None = None
    all_platforms: bool = False
    parallel: int = DEFAULT_PARALLEL
    progress: CopyProgress | None = None
    #: Called with the source and its top-level manifest before anything is written; it raises to
    #: refuse the image (the signature policy, ``berth.trust.admission``).
    admit: Callable[[ImageSource, RawManifest], Awaitable[None]] | None = None
    #: Called with the source, the destination and the manifest about to be committed, once every
    #: blob and child manifest is in and before ``commit``: it carries or makes the signatures of
    #: that manifest (``berth.trust.carry``), so a failure there publishes no tag or record.
    signatures: Callable[[ImageSource, ImageDestination, RawManifest], Awaitable[None]] | None = None


@dataclass(frozen=True)
class CopyResult:
    """What was written as the top-level manifest at the destination."""

    manifest: Descriptor
    #: Blobs transferred and blobs skipped because the destination had them.
    copied: int
    skipped: int


async def verified(
    chunks: AsyncIterator[bytes], desc: Descriptor, progress: CopyProgress | None, hash_content: bool = True
) -> AsyncGenerator[bytes, None]:
    """Pass ``chunks`` through, raising ``DigestMismatch`` at the end unless they match ``desc``.

    With ``hash_content=False`` only the size is checked here, for destinations that verify the
    digest themselves before publishing (hashing twice would only cost time).
    """
    hasher = desc.digest.hasher() if hash_content else None
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > desc.size:
            raise DigestMismatch(f"blob {desc.digest} is larger than its descriptor's size {desc.size}")
        if hasher is not None:
            hasher.update(chunk)
        if progress is not None:
            progress.blob_advanced(desc, len(chunk))
        yield chunk
    if total != desc.size:
        raise DigestMismatch(f"blob {desc.digest} has {total} bytes, its descriptor says {desc.size}")
    actual = hasher.digest() if hasher is not None else desc.digest
    if actual != desc.digest:
        raise DigestMismatch(f"blob content hashes to {actual}, expected {desc.digest}")


async def _all(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` concurrently; on the first failure cancel the rest and raise that failure."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as group_error:
        first: BaseException = group_error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


class _Copier:
    def __init__(self, src: ImageSource, dst: ImageDestination, options: CopyOptions) -> None:
        self.src, self.dst, self.options = src, dst, options
        self.copied = 0
        self.skipped = 0
        self._semaphore = asyncio.Semaphore(max(1, options.parallel))
        self._done: dict[str, asyncio.Task[None]] = {}

    async def blob(self, desc: Descriptor) -> None:
        """Copy one blob once, even if several manifests list it."""
        key = str(desc.digest)
        task = self._done.get(key)
        if task is None:
            task = asyncio.ensure_future(self._copy_blob(desc))
            self._done[key] = task
        await task

    async def _copy_blob(self, desc: Descriptor) -> None:
        progress = self.options.progress
        async with self._semaphore:
            if await self.dst.has_blob(desc):
                self.skipped += 1
                if progress is not None:
                    progress.blob_done(desc, skipped=True)
                return
            if progress is not None:
                progress.blob_started(desc)
            stream = verified(self.src.blob(desc), desc, progress, not self.dst.verifies_content)
            try:
                await self.dst.put_blob(desc, stream, self.src)
            finally:
                await stream.aclose()
            self.copied += 1
            if progress is not None:
                progress.blob_done(desc, skipped=False)

    async def image(self, doc: ImageManifest) -> None:
        """Copy the config and layers of one image manifest (not the manifest itself)."""
        await _all([self.blob(desc) for desc in doc.children()])

    async def index(self, doc: ImageIndex) -> None:
        """Copy every manifest an index lists, with their blobs (nested indexes too)."""
        await _all([self._child(child) for child in doc.manifests])

    async def _child(self, desc: Descriptor) -> None:
        raw = await self.src.manifest(desc)
        doc = manifest_mod.parse(raw.data, raw.media_type)
        if isinstance(doc, ImageIndex):
            await self.index(doc)
        else:
            await self.image(doc)
        await self.dst.put_manifest(raw)


async def copy_image(
    src: ImageSource, dst: ImageDestination, options: CopyOptions | None = None
) -> CopyResult:
    """Copy the image ``src`` names to ``dst``; return the top-level manifest written."""
    options = options or CopyOptions()
    copier = _Copier(src, dst, options)
    top = await src.top_manifest()
    if options.admit is not None:
        await options.admit(src, top)
    doc = manifest_mod.parse(top.data, top.media_type)
    if isinstance(doc, ImageIndex):
        if options.all_platforms:
            if not dst.accepts_index:
                raise InvalidArgument(f"a {dst.transport} destination holds one image; choose a platform")
            await copier.index(doc)
        else:
            chosen = doc.select(options.platform or host())
            top = await src.manifest(chosen)
            doc = manifest_mod.parse(top.data, top.media_type)
            if isinstance(doc, ImageIndex):
                raise InvalidArgument(f"index entry {chosen.digest} for {chosen.platform} is itself an index")
    if isinstance(doc, ImageManifest):
        await copier.image(doc)
    if options.signatures is not None:
        await options.signatures(src, dst, top)
    await dst.commit(top)
    return CopyResult(top.descriptor(), copier.copied, copier.skipped)
