"""Sign an image in a registry, and verify its signatures, with sigstore keys.

``sign_image`` stores signatures as cosign does (``berth.trust.attachments``); ``check_signature``
is the one check of a stored signature that ``berth verify`` and the policy's ``sigstoreSigned``
share: made by one of the keys, over a well-formed payload, for this manifest digest. Which
identity the payload must name is the caller's rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.distribution.client.errors import RegistryError
from berth.distribution.client.repository import Manifest, Repository
from berth.distribution.client.session import RegistryClient
from berth.errors import InvalidArgument, NotFound
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.attachments import Signature, attach_referrer, attach_signature, fetch_signatures
from berth.trust.errors import SignatureError
from berth.trust.payload import SIMPLE_SIGNING_TYPE, Payload, new_payload, parse_payload
from berth.trust.registries_d import RegistriesD


@dataclass(frozen=True)
class Signed:
    """One manifest signed by ``sign_image``: its digest and the identity its payload names."""

    digest: Digest
    identity: str


def signing_identity(reference: Reference) -> str:
    """The ``docker-reference`` a signature of ``reference`` names: the reference with its tag, as
    containers/image signs, or the bare repository for a digest reference, as cosign signs."""
    return f"{reference.name}:{reference.tag}" if reference.tag else reference.name


async def _top_manifest(repos: Sequence[Repository], reference: Reference) -> tuple[Repository, Manifest]:
    wanted = str(reference.digest) if reference.digest else reference.tag
    last: Exception | None = None
    for repo in repos:
        try:
            return repo, await repo.get_manifest(wanted)
        except (RegistryError, NotFound) as err:
            last = err
    assert last is not None
    raise last


async def sign_image(
    client: RegistryClient,
    reference: Reference,
    key: keys.PrivateKey,
    *,
    referrers: bool = False,
    recursive: bool = False,
) -> list[Signed]:
    """Sign the manifest ``reference`` names (with ``recursive``, an index and every manifest it
    lists) and store each signature under its ``sha256-HEX.sig`` tag, and as an OCI 1.1 referrer
    with ``referrers``."""
    repo, top = await _top_manifest([client.push_repository(reference.name)], reference)
    descriptors = [(top.media_type, top.digest, len(top.data))]
    if recursive and top.media_type in mediatypes.INDEX_TYPES:
        index = ImageIndex.parse(top.data, top.media_type)
        descriptors += [(child.media_type, child.digest, child.size) for child in index.manifests]
    identity = signing_identity(reference)
    done: list[Signed] = []
    for media_type, digest, size in descriptors:
        payload = new_payload(identity, digest).to_json()
        signature = Signature(payload, keys.sign(key, payload))
        await attach_signature(repo, digest, signature)
        if referrers:
            await attach_referrer(repo, Descriptor(media_type, digest, size), signature)
        done.append(Signed(digest, identity))
    return done


def check_signature(signature: Signature, public_keys: Sequence[keys.PublicKey], digest: Digest) -> Payload:
    """The payload of ``signature`` if one of ``public_keys`` made it and it signs ``digest``;
    else ``SignatureError`` saying which check failed."""
    if not any(keys.verify(key, signature.signature, signature.payload) for key in public_keys):
        raise SignatureError("signature not made by the given key (wrong key)")
    return _signs_digest(parse_payload(signature.payload), digest)


def sign_simple(image: Reference, digest: Digest, key_id: str, registries: RegistriesD) -> Path:
    """Sign the manifest ``digest`` of ``image`` with the GPG key ``key_id``, as ``skopeo copy
    --sign-by`` does, and store the signature in the image's ``lookaside-staging`` (``file://``);
    return where it went."""
    from berth.trust import gpg
    from berth.trust.lookaside import write_lookaside

    payload = new_payload(signing_identity(image), digest, SIMPLE_SIGNING_TYPE).to_json()
    blob = gpg.sign(payload, key_id)
    return write_lookaside(registries.lookaside_base(image, write=True), digest, blob)


def check_simple_signature(blob: bytes, gpg_keys: Sequence[bytes], digest: Digest) -> Payload:
    """The payload of the GPG simple signature ``blob`` if one of ``gpg_keys`` made it and it signs
    ``digest``; else ``SignatureError`` saying which check failed."""
    from berth.trust import gpg

    return _signs_digest(parse_payload(gpg.verify(blob, gpg_keys).content, SIMPLE_SIGNING_TYPE), digest)


def _signs_digest(payload: Payload, digest: Digest) -> Payload:
    if payload.manifest_digest != digest:
        raise SignatureError(
            f"digest mismatch: signature is for {payload.manifest_digest}, image is {digest}"
        )
    return payload


def _same_repository(identity: str, reference: Reference) -> bool:
    try:
        return Reference.parse(identity, default_tag=False).name == reference.name
    except InvalidArgument:
        return False


async def verify_image(
    client: RegistryClient, reference: Reference, public_keys: Sequence[keys.PublicKey]
) -> tuple[Digest, list[Payload]]:
    """The manifest digest of ``reference`` and the payloads of its signatures that check out and
    name its repository (cosign verify's rule); ``SignatureError`` with each reason if none do."""
    repos = client.pull_repositories(reference.name, by_digest=reference.digest is not None)
    repo, top = await _top_manifest(repos, reference)
    signatures = await fetch_signatures(repo, top.digest)
    if not signatures:
        raise SignatureError(f"{reference}: no signature found for {top.digest}")
    accepted: list[Payload] = []
    reasons: list[str] = []
    for signature in signatures:
        try:
            payload = check_signature(signature, public_keys, top.digest)
        except SignatureError as err:
            reasons.append(str(err))
            continue
        if not _same_repository(payload.docker_reference, reference):
            reasons.append(f"identity mismatch: signature names {payload.docker_reference!r}")
            continue
        accepted.append(payload)
    if not accepted:
        raise SignatureError(f"{reference}: no valid signature ({'; '.join(dict.fromkeys(reasons))})")
    return top.digest, accepted
