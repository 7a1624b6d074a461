"""Signatures that travel with a copy: read from the source, made by ``--sign-by*``, written to the
destination before its manifest is published.

Where each side keeps them:

- ``docker://``: sigstore signatures under the ``sha256-HEX.sig`` tag (read and written only where
  registries.d sets ``use-sigstore-attachments``, as containers/image does); simple signatures in
  the registry's signature extension when it offers one, else lookaside (read) and
  lookaside-staging (write);
- ``berth:``: the store's table (``berth.image.signatures``), keyed by the manifest digest.

Other destinations (layouts, archives) hold no signatures: nothing is read for them. Signatures are
written before ``commit``, so a signing that fails leaves no tag or image record behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.image import signatures as store_signatures
from berth.image.signatures import StoredSignature
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust.attachments import Signature, attach_signatures, fetch_signatures, split, to_stored
from berth.trust.errors import PolicyError
from berth.trust.registries_d import RegistriesD

#: Makes one new signature of a manifest digest for the destination's reference.
Signer = Callable[[Reference, Digest], StoredSignature]


class SignatureReader:
    """Reads a source's signatures once per manifest: the policy check and the copy share them."""

    def __init__(self, registries: RegistriesD) -> None:
        self.registries = registries
        self._sigstore: dict[tuple[ImageSource, Digest], asyncio.Task[list[Signature]]] = {}
        self._simple: dict[tuple[ImageSource, Digest], asyncio.Task[list[bytes]]] = {}

    async def sigstore(self, source: ImageSource, digest: Digest) -> list[Signature]:
        """The cosign signatures ``source`` has for ``digest``."""
        key = (source, digest)
        if key not in self._sigstore:
            self._sigstore[key] = asyncio.ensure_future(self._read_sigstore(source, digest))
        return list(await self._sigstore[key])

    async def simple(self, source: ImageSource, digest: Digest) -> list[bytes]:
        """The GPG simple signatures ``source`` has for ``digest``."""
        key = (source, digest)
        if key not in self._simple:
            self._simple[key] = asyncio.ensure_future(self._read_simple(source, digest))
        return list(await self._simple[key])

    async def _read_sigstore(self, source: ImageSource, digest: Digest) -> list[Signature]:
        from berth.distribution.transports.docker import DockerSource
        from berth.distribution.transports.store import StoreSource

        if isinstance(source, DockerSource) and source.repository is not None:
            if not self.registries.use_sigstore_attachments(source.reference):
                return []
            return await fetch_signatures(source.repository, digest)
        if isinstance(source, StoreSource):
            return split(store_signatures.of(source.images.content, digest))[0]
        return []

    async def _read_simple(self, source: ImageSource, digest: Digest) -> list[bytes]:
        from berth.distribution.transports.docker import DockerSource
        from berth.distribution.transports.store import StoreSource
        from berth.trust.lookaside import read_extension, read_lookaside

        if isinstance(source, DockerSource) and source.repository is not None:
            repo = source.repository
            await repo.registry.ping()
            if repo.registry.supports_signatures:
                return await read_extension(repo, digest)
            return await read_lookaside(self.registries.lookaside_base(source.reference, write=False), digest)
        if isinstance(source, StoreSource):
            return split(store_signatures.of(source.images.content, digest))[1]
        return []


def keeps_signatures(dst: ImageDestination) -> bool:
    """Whether ``dst`` can hold signatures (a registry or Berth's store)."""
    return dst.transport in ("docker", "berth")


def signature_copier(
    reader: SignatureReader, signers: Sequence[Signer] = (), *, remove: bool = False
) -> Callable[[ImageSource, ImageDestination, RawManifest], Awaitable[None]]:
    """The copier's ``signatures`` hook: the source's signatures of the manifest about to be
    committed (none with ``remove``), plus one from each of ``signers``, written to the destination."""

    async def carry(src: ImageSource, dst: ImageDestination, top: RawManifest) -> None:
        if not keeps_signatures(dst):
            if signers:
                raise PolicyError(f"a {dst.transport}: destination cannot hold signatures")
            return
        digest = top.digest
        found: list[StoredSignature] = []
        if not remove:
            found += [to_stored(s) for s in await reader.sigstore(src, digest)]
            found += [StoredSignature(store_signatures.SIMPLE_SIGNING, b"", blob)
                      for blob in await reader.simple(src, digest)]  # fmt: skip
        reference = getattr(dst, "reference", None)
        assert isinstance(reference, Reference)
        found += [sign(reference, digest) for sign in signers]
        if found:
            await write_signatures(dst, top, found, reader.registries)

    return carry


async def write_signatures(
    dst: ImageDestination, top: RawManifest, found: Sequence[StoredSignature], registries: RegistriesD
) -> None:
    """Store ``found``, signatures of ``top``, where ``dst`` (a registry or the store) keeps them."""
    from berth.distribution.transports.docker import DockerDestination
    from berth.distribution.transports.store import StoreDestination

    if isinstance(dst, StoreDestination):
        # The manifest goes in first (held by the copy's lease), so a concurrent gc, which forgets
        # the signatures of manifests not in the store, keeps these.
        await dst.put_manifest(top)
        store_signatures.add(dst.images.content, top.digest, found)
        return
    assert isinstance(dst, DockerDestination)
    sigstore, simple = split(found)
    repo = dst.repository()
    if sigstore:
        if not registries.use_sigstore_attachments(dst.reference):
            raise PolicyError(
                f"{dst.reference}: writing sigstore attachments is disabled by registries.d "
                "(set use-sigstore-attachments: true, or copy with --remove-signatures)"
            )
        await attach_signatures(repo, top.digest, sigstore)
    if simple:
        from berth.trust.lookaside import write_extension, write_lookaside

        await repo.registry.ping()
        if repo.registry.supports_signatures:
            await write_extension(repo, top.digest, simple)
        else:
            base = registries.lookaside_base(dst.reference, write=True)
            for blob in simple:
                write_lookaside(base, top.digest, blob)
