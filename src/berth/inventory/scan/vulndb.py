"""A vulnerability database as an OCI artifact (image-spec manifest.md#guidelines-for-artifact-usage),
so an offline site mirrors one reference: ``berth vulndb push DIR REF`` and ``berth scan --db
docker://REF``.

The manifest has ``artifactType`` ``ARTIFACT_TYPE``, the empty config
(``application/vnd.oci.empty.v1+json``) and one layer: a zip of the OSV records (``LAYER_ZIP``)
or, when made by other tools, a tar of them (``LAYER_TAR``, ``LAYER_TAR_GZIP``).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from berth.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from berth.distribution.transports import TransportContext
    from berth.spec.descriptor import Descriptor

ARTIFACT_TYPE = "application/vnd.berth.vulndb.v1"
LAYER_ZIP = "application/vnd.berth.vulndb.osv.v1+zip"
LAYER_TAR = "application/vnd.berth.vulndb.osv.v1.tar"
LAYER_TAR_GZIP = "application/vnd.berth.vulndb.osv.v1.tar+gzip"
LAYER_TYPES = (LAYER_ZIP, LAYER_TAR, LAYER_TAR_GZIP)
#: image-spec manifest.md#guidance-for-an-empty-descriptor: the two bytes "{}".
_EMPTY_CONFIG = b"{}"
#: Fixed member times, so the same records always make the same zip (and digest).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def pack(root: Path) -> bytes:
    """A zip of every ``*.json`` under ``root`` (validated first), members sorted, times fixed."""
    from berth.inventory.scan.database import records_of

    files = sorted((str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*.json") if p.is_file())
    if not files:
        raise InvalidArgument(f"vulnerability database {root}: no *.json records")
    records_of(iter([(str(root / name), data) for name, data in files]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def push(root: Path, reference: str, ctx: TransportContext) -> str:
    """Push the records under ``root`` as the artifact ``reference``; return the manifest digest."""
    from berth.spec import mediatypes
    from berth.spec.descriptor import Descriptor
    from berth.spec.manifest import ImageManifest
    from berth.spec.reference import Reference

    if not root.is_dir():
        raise InvalidArgument(f"vulnerability database {root}: not a directory")
    ref = Reference.parse(reference)
    layer = pack(root)
    layer_desc = Descriptor.of(LAYER_ZIP, layer, annotations={"org.opencontainers.image.title": "osv.zip"})
    config_desc = Descriptor.of(mediatypes.OCI_EMPTY, _EMPTY_CONFIG)
    manifest = ImageManifest(config=config_desc, layers=(layer_desc,), artifact_type=ARTIFACT_TYPE)

    async def upload() -> None:
        async with ctx.client() as client:
            repo = client.push_repository(ref.name)
            for desc, data in ((config_desc, _EMPTY_CONFIG), (layer_desc, layer)):
                if not await repo.has_blob(desc.digest):
                    await repo.upload_blob(desc.digest, desc.size, _once(data))
            await repo.put_manifest(str(ref.digest) if ref.digest else ref.tag, manifest.to_bytes(),
                                    mediatypes.OCI_MANIFEST)  # fmt: skip

    asyncio.run(upload())
    return str(manifest.digest())


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def pull(reference: str, ctx: TransportContext | None) -> tuple[str, bytes]:
    """The records layer of the artifact ``reference``, verified: (a name for messages, bytes)."""
    from berth.distribution.transports import TransportContext
    from berth.spec.manifest import ImageManifest
    from berth.spec.reference import Reference

    ref = Reference.parse(reference)
    settings = ctx or TransportContext()

    async def fetch() -> bytes:
        from berth.distribution.transports.docker import DockerSource

        async with settings.client() as client:
            source = DockerSource(client, ref)
            top = await source.top_manifest()
            manifest = ImageManifest.parse(top.data, top.media_type)
            layer = _records_layer(manifest, str(ref))
            data = b"".join([chunk async for chunk in source.blob(layer)])
        _verify(layer, data, str(ref))
        return data

    return str(ref), asyncio.run(fetch())


def _records_layer(manifest: object, name: str) -> Descriptor:
    from berth.spec.manifest import ImageManifest

    assert isinstance(manifest, ImageManifest)
    if manifest.artifact_type != ARTIFACT_TYPE:
        raise InvalidArgument(
            f"{name}: not a vulnerability database (artifactType {manifest.artifact_type!r})"
        )
    layers = [d for d in manifest.layers if d.media_type in LAYER_TYPES]
    if len(layers) != 1:
        raise InvalidArgument(f"{name}: want one layer of type {', '.join(LAYER_TYPES)}, found {len(layers)}")
    return layers[0]


def _verify(layer: Descriptor, data: bytes, name: str) -> None:
    from berth.errors import DigestMismatch
    from berth.spec.digest import Digest

    if len(data) != layer.size or Digest.of(data, layer.digest.algorithm) != layer.digest:
        raise DigestMismatch(f"{name}: the records layer does not match its digest {layer.digest}")
