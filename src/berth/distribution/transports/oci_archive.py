"""``oci-archive:FILE[:REF]``: a tar of an OCI image layout (skopeo's transport of that name).

Reading unpacks the tar into a private temporary directory and reads it as a layout; writing builds
a layout in a temporary directory and packs it into ``FILE`` atomically at commit.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from berth.distribution.tar_output import atomic_tar
from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.distribution.transports.oci import OCIDestination, OCISource
from berth.errors import InvalidArgument, NotFound
from berth.image.layers.apply import LayerWriteError, apply_layer
from berth.image.layers.errors import InvalidLayer
from berth.spec.descriptor import Descriptor


def _scratch(near: Path) -> Path:
    base = near.parent if near.parent.is_dir() else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=".berth-archive-", dir=base))


def _extract(archive: Path, into: Path) -> None:
    # The layer applier is Berth's hardened tar extraction (openat2, nothing written outside
    # ``into``), and reads compressed archives too; tarfile's ``filter`` needs Python 3.11.4.
    try:
        with archive.open("rb") as blob:
            apply_layer(blob, into, same_owner=False)
    except FileNotFoundError:
        raise NotFound(f"archive {archive} does not exist") from None
    except (InvalidLayer, LayerWriteError, OSError) as err:
        raise InvalidArgument(f"cannot read archive {archive}: {err}") from None


class OCIArchiveSource(ImageSource):
    """Reads one image from an OCI layout tar."""

    transport = "oci-archive"

    def __init__(self, archive: Path, ref: str = "") -> None:
        self.archive = archive
        self.ref = ref
        self._dir: Path | None = None
        self._layout: OCISource | None = None

    async def _open(self) -> OCISource:
        if self._layout is None:
            self._dir = _scratch(self.archive)
            await asyncio.to_thread(_extract, self.archive, self._dir)
            self._layout = OCISource(self._dir, self.ref)
        return self._layout

    async def close(self) -> None:
        """Remove the unpacked copy."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def top_manifest(self) -> RawManifest:
        """The manifest ``REF`` names in the archive's ``index.json``."""
        return await (await self._open()).top_manifest()

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """A manifest blob, verified."""
        return await (await self._open()).manifest(desc)

    def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """A blob file of the unpacked layout."""
        assert self._layout is not None, "top_manifest() first"
        return self._layout.blob(desc)


class OCIArchiveDestination(ImageDestination):
    """Writes one image as an OCI layout tar."""

    transport = "oci-archive"

    def __init__(self, archive: Path, ref: str = "") -> None:
        self.archive = archive
        self._dir = _scratch(archive)
        self._layout = OCIDestination(self._dir, ref)
        self._committed = False

    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether this copy already wrote the blob."""
        return await self._layout.has_blob(desc)

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Write the blob into the staging layout."""
        await self._layout.put_blob(desc, chunks, source)

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Write a manifest into the staging layout."""
        await self._layout.put_manifest(manifest)

    async def commit(self, top: RawManifest) -> None:
        """Name the image in the staging layout and pack it into the archive file."""
        await self._layout.commit(top)
        await asyncio.to_thread(self._pack)

    def _pack(self) -> None:
        with atomic_tar(self.archive) as tar:
            for path in sorted(self._dir.rglob("*")):
                rel = path.relative_to(self._dir)
                if rel.name.startswith("."):
                    continue  # lock files and temporaries are not part of the layout
                tar.add(path, arcname=str(rel), recursive=False)

    async def close(self, ok: bool) -> None:
        """Remove the staging layout."""
        shutil.rmtree(self._dir, ignore_errors=True)
