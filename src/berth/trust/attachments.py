"""Signatures stored beside an image in its registry, as cosign stores them.

For a manifest with digest ``sha256:HEX`` the signatures live in the same repository under the tag
``sha256-HEX.sig``: an OCI manifest whose layers are the signed payloads
(``application/vnd.dev.cosign.simplesigning.v1+json``), each carrying its base64 signature in the
``dev.cosignproject.cosign/signature`` annotation. A new signature is appended as one more layer.
containers/image reads them there when registries.d says ``use-sigstore-attachments: true``.

The same layer can also be published as an OCI 1.1 referrer: a manifest whose ``subject`` is the
signed image (image-spec manifest.md#guidelines-for-artifact-usage), found through the referrers API.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from berth.distribution.client.artifacts import push_artifact, put_blob
from berth.distribution.client.errors import ManifestUnknown
from berth.distribution.client.repository import Repository
from berth.errors import DigestMismatch, InvalidArgument
from berth.image.signatures import SIGSTORE, StoredSignature
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageManifest

SIMPLESIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
#: The artifact type cosign gives a signature published as an OCI 1.1 referrer.
REFERRER_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
#: A payload is a few hundred bytes; refuse to read absurd ones from a hostile registry.
_MAX_PAYLOAD = 4 << 20


@dataclass(frozen=True)
class Signature:
    """One stored signature: the payload bytes and the raw signature over them."""

    payload: bytes
    signature: bytes

    def layer(self) -> Descriptor:
        """The signature manifest's layer for this signature."""
        note = {SIGNATURE_ANNOTATION: base64.b64encode(self.signature).decode()}
        return Descriptor.of(SIMPLESIGNING_TYPE, self.payload, annotations=note)


def to_stored(signature: Signature) -> StoredSignature:
    """A cosign signature as Berth's store keeps it."""
    return StoredSignature(SIGSTORE, signature.payload, signature.signature)


def split(found: Sequence[StoredSignature]) -> tuple[list[Signature], list[bytes]]:
    """Signatures kept in the store, as cosign signatures and GPG simple signature blobs."""
    sigstore = [Signature(s.payload, s.signature) for s in found if s.format == SIGSTORE]
    simple = [s.signature for s in found if s.format != SIGSTORE]
    return sigstore, simple


def signature_tag(digest: Digest) -> str:
    """The tag cosign keeps a manifest's signatures under: ``sha256-HEX.sig``."""
    return f"{digest.algorithm}-{digest.encoded}.sig"


async def _read_blob(repo: Repository, desc: Descriptor) -> bytes:
    if desc.size > _MAX_PAYLOAD:
        raise DigestMismatch(f"signature payload {desc.digest} in {repo} is too large ({desc.size} bytes)")
    data = b"".join([chunk async for chunk in repo.fetch_blob(desc.digest, desc.size)])
    if Digest.of(data, desc.digest.algorithm) != desc.digest:
        raise DigestMismatch(f"signature payload {desc.digest} in {repo} does not match its digest")
    return data


async def _signature_manifest(repo: Repository, digest: Digest) -> ImageManifest | None:
    try:
        got = await repo.get_manifest(signature_tag(digest))
    except ManifestUnknown:
        return None
    try:
        return ImageManifest.parse(got.data, got.media_type)
    except InvalidArgument as err:
        raise InvalidArgument(f"{repo}:{signature_tag(digest)}: {err}") from None


async def fetch_signatures(repo: Repository, digest: Digest) -> list[Signature]:
    """Every cosign signature stored for the manifest ``digest`` (layers of another kind are
    skipped; a layer without a readable signature annotation is skipped too, as containers/image
    reports it as no signature)."""
    manifest = await _signature_manifest(repo, digest)
    found: list[Signature] = []
    for layer in manifest.layers if manifest is not None else ():
        encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
        if layer.media_type != SIMPLESIGNING_TYPE or encoded is None:
            continue
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        found.append(Signature(await _read_blob(repo, layer), raw))
    return found


def _config_for(layers: tuple[Descriptor, ...]) -> bytes:
    """The image config cosign gives a signature manifest: empty, but for the layers' diff IDs."""
    doc = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(layer.digest) for layer in layers]},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


async def attach_signatures(repo: Repository, digest: Digest, signatures: Sequence[Signature]) -> Digest:
    """Add ``signatures`` to the ``sha256-HEX.sig`` manifest of ``digest`` (made if missing; a
    signature already there is not added twice); return the new manifest's digest."""
    existing = await _signature_manifest(repo, digest)
    layers = existing.layers if existing is not None else ()
    for signature in signatures:
        layer = signature.layer()
        if layer not in layers:  # descriptors compare annotations too: the same signature
            layers = (*layers, layer)
            await put_blob(repo, layer, signature.payload)
    config = _config_for(layers)
    config_desc = Descriptor.of(mediatypes.OCI_CONFIG, config)
    await put_blob(repo, config_desc, config)
    manifest = ImageManifest(config_desc, layers)
    return await repo.put_manifest(signature_tag(digest), manifest.to_bytes(), manifest.media_type)


async def attach_referrer(repo: Repository, subject: Descriptor, signature: Signature) -> Digest:
    """Publish ``signature`` as an OCI 1.1 referrer of ``subject``; return the referrer's digest."""
    return await push_artifact(repo, subject, REFERRER_ARTIFACT_TYPE, signature.layer(), signature.payload)
