"""``oci:DIR[:REF]``: an OCI image layout directory (image-spec image-layout.md).

The layout is ``oci-layout``, ``index.json`` and ``blobs/<alg>/<encoded>``. ``REF`` is the value of
the ``org.opencontainers.image.ref.name`` annotation on an ``index.json`` entry, as skopeo writes it.
Blobs are written to a temporary file beside their final place and renamed once complete and
verified, so a failed copy leaves no partial blob.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.errors import DigestMismatch, InvalidArgument, NotFound
from berth.fsutil import atomic_write, fsync_dir, locked
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest

#: image-layout.md#oci-layout-file
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = "1.0.0"
#: annotations.md#pre-defined-annotation-keys
REF_NAME = "org.opencontainers.image.ref.name"
_READ_SIZE = 1 << 20


def blob_path(root: Path, digest: Digest) -> Path:
    """image-layout.md#blobs: ``blobs/<alg>/<encoded>``."""
    return root / "blobs" / digest.algorithm / digest.encoded


def read_index(root: Path) -> dict[str, Any]:
    """The layout's ``index.json`` as a JSON object; ``NotFound`` if ``root`` is not a layout."""
    try:
        layout = json.loads((root / LAYOUT_FILE).read_bytes())
        index = json.loads((root / "index.json").read_bytes())
    except FileNotFoundError:
        raise NotFound(f"{root} is not an OCI image layout (no oci-layout or index.json)") from None
    except ValueError as err:
        raise InvalidArgument(f"{root}: malformed layout file: {err}") from None
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != LAYOUT_VERSION:
        raise InvalidArgument(f"{root}: unsupported imageLayoutVersion in oci-layout")
    if not isinstance(index, dict):
        raise InvalidArgument(f"{root}/index.json is not a JSON object")
    return index


def find_entry(root: Path, ref: str) -> Descriptor:
    """The ``index.json`` entry named ``ref``, or the only entry when ``ref`` is empty."""
    index = read_index(root)
    manifests: list[Any] = index.get("manifests") or []
    entries = [Descriptor.from_json(m, f"index.json.manifests[{i}]") for i, m in enumerate(manifests)]
    if ref:
        named = [e for e in entries if e.annotations.get(REF_NAME) == ref]
        if not named:
            raise NotFound(f"no image named {ref!r} in OCI layout {root}")
        return named[-1]
    if len(entries) != 1:
        raise InvalidArgument(f"OCI layout {root} holds {len(entries)} images; name one as oci:{root}:REF")
    return entries[0]


def read_verified(root: Path, desc: Descriptor) -> bytes:
    """A small blob's bytes, checked against its descriptor."""
    try:
        data = blob_path(root, desc.digest).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"blob {desc.digest} missing from OCI layout {root}") from None
    if len(data) != desc.size or Digest.of(data, desc.digest.algorithm) != desc.digest:
        raise DigestMismatch(f"blob {desc.digest} in OCI layout {root} does not match its digest")
    return data


async def stream_file(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes in chunks."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally across yields
    except FileNotFoundError:
        raise NotFound(f"blob file {path} does not exist") from None
    try:
        while chunk := fh.read(_READ_SIZE):
            yield chunk
    finally:
        fh.close()


async def write_blob(root: Path, desc: Descriptor, chunks: AsyncIterator[bytes]) -> None:
    """Write a verified stream to ``blobs/<alg>/<encoded>``, via a temporary file renamed at the end."""
    final = blob_path(root, desc.digest)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{id(chunks)}.partial")
    try:
        with open(tmp, "wb") as fh:
            async for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class OCISource(ImageSource):
    """Reads one image of an OCI layout."""

    transport = "oci"

    def __init__(self, root: Path, ref: str = "") -> None:
        self.root = root
        self.ref = ref

    async def top_manifest(self) -> RawManifest:
        """The manifest or index ``index.json`` names."""
        entry = find_entry(self.root, self.ref)
        return RawManifest(read_verified(self.root, entry), entry.media_type)

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """A manifest blob, verified."""
        return RawManifest(read_verified(self.root, desc), desc.media_type)

    def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """Stream a blob file."""
        return stream_file(blob_path(self.root, desc.digest))


class OCIDestination(ImageDestination):
    """Writes one image into an OCI layout (created if missing), named ``ref`` in ``index.json``."""

    transport = "oci"

    def __init__(self, root: Path, ref: str = "") -> None:
        self.root = root
        self.ref = ref
        self._ready = False

    def _init_layout(self) -> None:
        if self._ready:
            return
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        if not (self.root / LAYOUT_FILE).exists():
            atomic_write(self.root / LAYOUT_FILE, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        self._ready = True

    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether the blob file exists with the right size."""
        try:
            return blob_path(self.root, desc.digest).stat().st_size == desc.size
        except FileNotFoundError:
            return False

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Write the blob file."""
        self._init_layout()
        await write_blob(self.root, desc, chunks)

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Write a manifest blob."""
        self._init_layout()
        path = blob_path(self.root, manifest.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, manifest.data)

    async def commit(self, top: RawManifest) -> None:
        """Write the top manifest and add it to ``index.json``, replacing an entry of the same name."""
        await self.put_manifest(top)
        annotations = {REF_NAME: self.ref} if self.ref else {}
        entry = Descriptor.of(top.media_type, top.data, annotations=annotations).to_json()
        with locked(self.root / ".index.json.lock"):
            try:
                index = read_index(self.root)
            except NotFound:
                index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
            kept = [
                m
                for m in index.get("manifests") or []
                if not (self.ref and (m.get("annotations") or {}).get(REF_NAME) == self.ref)
                and not (not self.ref and m.get("digest") == entry["digest"])
            ]
            index["manifests"] = [*kept, entry]
            atomic_write(self.root / "index.json", json.dumps(index, indent=None).encode())
        fsync_dir(self.root)
