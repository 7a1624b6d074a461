"""What the registry needs to know of a pushed manifest, read leniently from its exact bytes.

The registry never re-serialises a manifest (spec.md#pushing-manifests: "store the manifest in the
exact byte representation provided"); it only reads the fields it acts on: the descriptors whose
targets must exist, the ``subject`` for the referrers API, ``artifactType`` and ``annotations``.
Unknown fields are allowed (image-spec manifest.md: extensions), as the conformance suite's
"custom fields" data requires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from berth.distribution.server.errors import RegistryError
from berth.errors import InvalidArgument
from berth.spec import mediatypes
from berth.spec.digest import Digest
from berth.spec.distribution import MANIFEST_INVALID

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


def _invalid(message: str) -> RegistryError:
    return RegistryError(MANIFEST_INVALID, detail=message, message=f"manifest invalid: {message}")


def _descriptor(value: Any, where: str) -> tuple[Digest, str, dict[str, Any]]:
    """Check a descriptor (image-spec descriptor.md); return its digest, media type and fields."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not a descriptor")
    media_type = value.get("mediaType")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where} has no mediaType")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where} has no valid size")
    try:
        digest = Digest.parse(value.get("digest", ""))
    except InvalidArgument:
        raise _invalid(f"{where} has an invalid digest") from None
    return digest, media_type, value


def _is_nondistributable(media_type: str, fields: dict[str, Any]) -> bool:
    # image-spec layer.md: non-distributable layers are fetched from their urls, not pushed.
    return "nondistributable" in media_type or "foreign" in media_type or bool(fields.get("urls"))


def inspect_manifest(content: bytes, content_type: str) -> ManifestInfo:
    """Parse a pushed manifest or index; ``MANIFEST_INVALID`` if it is not one."""
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _invalid("not JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("not a JSON object")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType is not a string")
    if content_type in _GENERIC_TYPES:
        media_type = body_type or ("" if "manifests" not in doc else mediatypes.OCI_INDEX)
        if not media_type and "config" in doc:
            media_type = mediatypes.OCI_MANIFEST
    else:
        # spec.md#pushing-manifests: clients MUST set Content-Type to the body's mediaType.
        if body_type and body_type != content_type:
            raise _invalid(f"mediaType {body_type} differs from Content-Type {content_type}")
        media_type = content_type
    if media_type not in mediatypes.MANIFEST_OR_INDEX_TYPES:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion is not 2")
    info = ManifestInfo(media_type)
    if media_type in mediatypes.MANIFEST_TYPES:
        _read_image_manifest(doc, info)
    else:
        _read_index(doc, info)
    if "subject" in doc:
        info.subject = _descriptor(doc["subject"], "subject")[0]
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType is not a string")
    if artifact_type:
        info.artifact_type = artifact_type
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            raise _invalid("annotations is not an object")
        info.annotations = annotations
    return info


def _read_image_manifest(doc: dict[str, Any], info: ManifestInfo) -> None:
    digest, config_type, _ = _descriptor(doc.get("config"), "config")
    info.blobs.append(BlobReference(digest))
    # spec.md#listing-referrers: an image manifest's artifactType defaults to its config's type.
    info.artifact_type = config_type
    layers = doc.get("layers", [])
    if not isinstance(layers, list):
        raise _invalid("layers is not a list")
    for i, layer in enumerate(layers):
        digest, media_type, fields = _descriptor(layer, f"layers[{i}]")
        info.blobs.append(BlobReference(digest, _is_nondistributable(media_type, fields)))


def _read_index(doc: dict[str, Any], info: ManifestInfo) -> None:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise _invalid("manifests is not a list")
    for i, entry in enumerate(manifests):
        digest, media_type, _ = _descriptor(entry, f"manifests[{i}]")
        if media_type in mediatypes.MANIFEST_OR_INDEX_TYPES:
            info.manifests.append(digest)
        else:
            info.blobs.append(BlobReference(digest))
