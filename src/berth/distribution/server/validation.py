"""What the registry needs to know of a pushed manifest, read from its exact bytes.

Parsing is ``berth.spec.manifest`` (shared with the client and the image store); the registry never
re-serialises what it parsed (spec.md#pushing-manifests: "store the manifest in the exact byte
representation provided"). It only takes the fields it acts on: the descriptors whose targets must
exist, the ``subject`` for the referrers API, ``artifactType`` and ``annotations``. Unknown fields are
allowed (image-spec manifest.md: extensions), as the conformance suite's "custom fields" data needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.distribution.server.errors import RegistryError
from berth.errors import InvalidArgument
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.distribution import MANIFEST_INVALID
from berth.spec.manifest import ImageManifest, parse

# Content types that say nothing about the manifest; the body's own mediaType decides then.
_GENERIC_TYPES = {"", "application/json", "application/octet-stream"}


@dataclass(frozen=True)
class BlobReference:
    """A blob a manifest names (its config or a layer)."""

    digest: Digest
    nondistributable: bool = False


@dataclass
class ManifestInfo:
    """The fields of a manifest or index that the registry acts on."""

    media_type: str
    blobs: list[BlobReference] = field(default_factory=list)
    manifests: list[Digest] = field(default_factory=list)
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _is_nondistributable(layer: Descriptor) -> bool:
    # image-spec layer.md: non-distributable layers are fetched from their urls, not pushed.
    media_type = layer.media_type
    return "nondistributable" in media_type or "foreign" in media_type or bool(layer.urls)


def inspect_manifest(content: bytes, content_type: str) -> ManifestInfo:
    """Parse a pushed manifest or index; ``MANIFEST_INVALID`` naming the problem if it is not one."""
    try:
        # spec.md#pushing-manifests: the Content-Type names the type, and a mediaType in the body
        # must agree with it.
        doc = parse(content, None if content_type in _GENERIC_TYPES else content_type)
    except InvalidArgument as err:
        raise RegistryError(MANIFEST_INVALID, detail=str(err), message=f"manifest invalid: {err}") from None
    info = ManifestInfo(doc.media_type)
    if isinstance(doc, ImageManifest):
        info.blobs.append(BlobReference(doc.config.digest))
        info.blobs.extend(BlobReference(layer.digest, _is_nondistributable(layer)) for layer in doc.layers)
        # spec.md#listing-referrers: an image manifest's artifactType defaults to its config's type.
        info.artifact_type = doc.artifact_type or doc.config.media_type
    else:
        for entry in doc.manifests:
            if entry.media_type in mediatypes.MANIFEST_OR_INDEX_TYPES:
                info.manifests.append(entry.digest)
            else:
                info.blobs.append(BlobReference(entry.digest))
        info.artifact_type = doc.artifact_type or None
    if doc.subject is not None:
        info.subject = doc.subject.digest
    if doc.annotations:
        info.annotations = dict(doc.annotations)
    return info
