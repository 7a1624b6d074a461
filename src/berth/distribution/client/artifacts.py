"""OCI 1.1 artifacts that refer to an image: an SBOM, an attestation, a signature, pushed beside the
image in its repository with the image as their ``subject`` (image-spec
manifest.md#guidelines-for-artifact-usage), found again through the referrers API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from berth.distribution.client.repository import Repository
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageManifest

#: The empty config an artifact without one carries (manifest.md#guidance-for-an-empty-descriptor).
EMPTY_CONFIG = b"{}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put_blob(repo: Repository, desc: Descriptor, data: bytes) -> None:
    """Upload ``data`` as the blob ``desc`` unless the repository has it already."""
    if not await repo.has_blob(desc.digest):
        await repo.upload_blob(desc.digest, desc.size, _once(data))


async def push_artifact(
    repo: Repository,
    subject: Descriptor,
    artifact_type: str,
    layer: Descriptor,
    data: bytes,
    annotations: Mapping[str, str] | None = None,
) -> Digest:
    """Push ``data`` (described by ``layer``) as an artifact of ``artifact_type`` whose subject is
    ``subject``; return the artifact manifest's digest."""
    config = Descriptor.of(mediatypes.OCI_EMPTY, EMPTY_CONFIG)
    await put_blob(repo, config, EMPTY_CONFIG)
    await put_blob(repo, layer, data)
    manifest = ImageManifest(
        config,
        (layer,),
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
        artifact_type=artifact_type,
        annotations=dict(annotations or {}),
    )
    return await repo.put_referrer(manifest.to_bytes(), manifest.media_type, subject.digest)
