"""Sign an image in a registry, and verify its signatures, with sigstore keys.

``sign_image`` stores signatures as cosign does (``berth.trust.attachments``); ``check_signature``
is the one check of a stored signature that ``berth verify`` and the policy's ``sigstoreSigned``
share: made by one of the keys, over a well-formed payload, for this manifest digest. Which
identity the payload must name is the caller's rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from berth.distribution.client.errors import RegistryError
from berth.distribution.client.repository import Manifest, Repository
from berth.distribution.client.session import RegistryClient
from berth.errors import InvalidArgument, NotFound
from berth.image.images import ImageStore
from berth.image.signatures import SIGSTORE, SIMPLE_SIGNING, StoredSignature
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.attachments import Signature, attach_referrer, attach_signatures, fetch_signatures, split
from berth.trust.errors import SignatureError
from berth.trust.payload import SIMPLE_SIGNING_TYPE, Payload, new_payload, parse_payload


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
    sign = sigstore_signer(key)
    done: list[Signed] = []
    for desc in _signed_manifests(Descriptor(top.media_type, top.digest, len(top.data)), top.data, recursive):
        signed = sign(reference, desc.digest)
        signature = Signature(signed.payload, signed.signature)
        await attach_signatures(repo, desc.digest, [signature])
        if referrers:
            await attach_referrer(repo, desc, signature)
        done.append(Signed(desc.digest, signing_identity(reference)))
    return done


def _signed_manifests(top: Descriptor, data: bytes, recursive: bool) -> list[Descriptor]:
    """``top``, and with ``recursive`` every manifest the index ``top`` lists (cosign's
    ``--recursive``)."""
    found = [top]
    if recursive and top.media_type in mediatypes.INDEX_TYPES:
        found += [Descriptor(child.media_type, child.digest, child.size)
                  for child in ImageIndex.parse(data, top.media_type).manifests]  # fmt: skip
    return found


def sign_stored_image(
    images: ImageStore, name: str, key: keys.PrivateKey, *, recursive: bool = False
) -> list[Signed]:
    """Sign the manifest the store's image ``name`` (a canonical name) points at, and with
    ``recursive`` every manifest its index lists; the signatures are kept with each manifest
    digest (``berth.image.signatures``) and travel with later pushes."""
    from berth.image import signatures

    image = images.get(name)
    reference = Reference.parse(image.name)
    sign = sigstore_signer(key)
    data = images.content.read(image.target.digest)
    done = []
    for desc in _signed_manifests(image.target, data, recursive):
        signatures.add(images.content, desc.digest, [sign(reference, desc.digest)])
        done.append(Signed(desc.digest, signing_identity(reference)))
    return done


def check_signature(signature: Signature, public_keys: Sequence[keys.PublicKey], digest: Digest) -> Payload:
    """The payload of ``signature`` if one of ``public_keys`` made it and it signs ``digest``;
    else ``SignatureError`` saying which check failed."""
    if not any(keys.verify(key, signature.signature, signature.payload) for key in public_keys):
        raise SignatureError("signature not made by the given key (wrong key)")
    return _signs_digest(parse_payload(signature.payload), digest)


def sigstore_signer(key: keys.PrivateKey) -> Callable[[Reference, Digest], StoredSignature]:
    """What ``--sign-by-sigstore-private-key`` signs a copied manifest with: a cosign signature
    naming the destination reference."""

    def sign(image: Reference, digest: Digest) -> StoredSignature:
        payload = new_payload(signing_identity(image), digest).to_json()
        return StoredSignature(SIGSTORE, payload, keys.sign(key, payload))

    return sign


def simple_signer(key_id: str) -> Callable[[Reference, Digest], StoredSignature]:
    """What ``--sign-by`` signs a copied manifest with: a GPG simple signature made with the key
    ``key_id`` of the user's keyring, as ``skopeo copy --sign-by`` makes it."""

    def sign(image: Reference, digest: Digest) -> StoredSignature:
        from berth.trust import gpg

        payload = new_payload(signing_identity(image), digest, SIMPLE_SIGNING_TYPE).to_json()
        return StoredSignature(SIMPLE_SIGNING, b"", gpg.sign(payload, key_id))

    return sign


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
    return top.digest, _accepted(reference, top.digest, await fetch_signatures(repo, top.digest), public_keys)


def verify_stored_image(
    images: ImageStore, name: str, public_keys: Sequence[keys.PublicKey]
) -> tuple[Digest, list[Payload]]:
    """``verify_image`` for the store's image ``name`` (a canonical name), over the signatures
    kept with its manifest digest."""
    from berth.image import signatures

    image = images.get(name)
    digest = image.target.digest
    found = split(signatures.of(images.content, digest))[0]
    return digest, _accepted(Reference.parse(image.name), digest, found, public_keys)


def _accepted(
    reference: Reference, digest: Digest, found: Sequence[Signature], public_keys: Sequence[keys.PublicKey]
) -> list[Payload]:
    if not found:
        raise SignatureError(f"{reference}: no signature found for {digest}")
    accepted: list[Payload] = []
    reasons: list[str] = []
    for signature in found:
        try:
            payload = check_signature(signature, public_keys, digest)
        except SignatureError as err:
            reasons.append(str(err))
            continue
        if not _same_repository(payload.docker_reference, reference):
            reasons.append(f"identity mismatch: signature names {payload.docker_reference!r}")
            continue
        accepted.append(payload)
    if not accepted:
        raise SignatureError(f"{reference}: no valid signature ({'; '.join(dict.fromkeys(reasons))})")
    return accepted
