"""SBOMs of images in registries: read by way of a private, temporary store, and attached back to
their image as OCI 1.1 artifacts (``berth sbom docker://REF``, ``berth sbom --attach``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from berth.errors import InvalidArgument, NotFound

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.distribution.transports import TransportContext
    from berth.inventory.model import Inventory
    from berth.inventory.sources._common import Warn
    from berth.spec.digest import Digest
    from berth.spec.reference import Reference


@contextmanager
def registry_inventory(reference: Reference, ctx: TransportContext, warn: Warn) -> Iterator[Inventory]:
    """The inventory of ``reference`` in its registry: the image (this host's platform) is copied
    into a temporary store, read as ``berth sbom`` reads any image, and the store removed."""
    from dataclasses import replace

    from berth.distribution.transports import copy
    from berth.image.images import ImageStore
    from berth.inventory.sbom import inventory

    with tempfile.TemporaryDirectory(prefix="berth-sbom-") as tmp:
        copy(f"docker://{reference}", f"berth:{reference}", replace(ctx, root=Path(tmp)))
        store = ImageStore(Path(tmp) / "images")
        try:
            yield inventory(store, str(reference), warn)
        finally:
            store.close()


def registry_reference(name: str) -> Reference:
    """The registry reference of the image named ``name``: ``docker://REF`` or a name in Berth's
    store whose registry holds it; images made here (``localhost/...``) are in no registry."""
    from berth.spec.reference import Reference

    ref = Reference.parse(name.removeprefix("docker://"))
    if ref.domain == "localhost":
        raise InvalidArgument(f"image {name} is in no registry: push it, then attach to docker://REFERENCE")
    return ref


def attach(
    reference: Reference,
    manifest_digest: str,
    document: bytes,
    media_type: str,
    ctx: TransportContext,
    annotations: dict[str, str] | None = None,
) -> Digest:
    """Push ``document`` as an artifact of ``media_type`` whose subject is the manifest
    ``manifest_digest`` in ``reference``'s repository; the artifact manifest's digest. The image must
    be in the registry already (``NotFound`` otherwise)."""
    import asyncio

    from berth.distribution.client.artifacts import push_artifact
    from berth.spec.descriptor import Descriptor
    from berth.spec.digest import Digest

    async def run() -> Digest:
        async with ctx.client() as client:
            repo = client.push_repository(reference.name)
            head = await repo.head_manifest(manifest_digest)
            if head is None:
                where = f"{reference.name}@{manifest_digest}"
                raise NotFound(f"{where} is not in its registry: push the image first")
            subject = Descriptor(head.media_type, Digest.parse(manifest_digest), head.size)
            layer = Descriptor.of(media_type, document)
            return await push_artifact(repo, subject, media_type, layer, document, annotations)

    return asyncio.run(run())
