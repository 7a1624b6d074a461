"""Open a source or destination from its transport-qualified name, and the synchronous ``copy``."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from berth.distribution.client.registry import RetryPolicy
from berth.distribution.client.session import RegistryClient
from berth.distribution.credentials import Credentials
from berth.distribution.registries_conf import RegistriesConf
from berth.distribution.transports.base import ImageDestination, ImageSource
from berth.distribution.transports.copy import CopyOptions, CopyResult, copy_image
from berth.distribution.transports.names import ImageName, parse_image_name
from berth.spec.reference import Reference


@dataclass
class TransportContext:
    """What transports need besides a name: registry settings and where Berth's store is."""

    tls_verify: bool | None = None
    authfile: str | os.PathLike[str] | None = None
    credentials: Credentials | None = None
    registries_conf: RegistriesConf = field(default_factory=RegistriesConf)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Berth's storage root (``--root``); the ``berth:`` transport uses its image store.
    root: Path | None = None
    #: CA and client certificates for registries (``--cert-dir``); default: each host's certs.d.
    cert_dir: Path | None = None

    def client(self) -> RegistryClient:
        """A registry client with these settings (enter it with ``async with``)."""
        return RegistryClient(
            tls_verify=self.tls_verify,
            authfile=self.authfile,
            credentials=self.credentials,
            registries_conf=self.registries_conf,
            retry=self.retry,
            cert_dir=self.cert_dir,
        )


def open_source(name: ImageName, ctx: TransportContext, client: RegistryClient | None) -> ImageSource:
    """The ``ImageSource`` for a parsed name (``client`` is needed for ``docker``)."""
    if name.transport == "docker":
        from berth.distribution.transports.docker import DockerSource

        assert client is not None
        return DockerSource(client, Reference.parse(name.reference))
    if name.transport == "oci":
        from berth.distribution.transports.oci import OCISource

        return OCISource(Path(name.path), name.reference)
    if name.transport == "oci-archive":
        from berth.distribution.transports.oci_archive import OCIArchiveSource

        return OCIArchiveSource(Path(name.path), name.reference)
    if name.transport == "docker-archive":
        from berth.distribution.transports.docker_archive import DockerArchiveSource

        return DockerArchiveSource(Path(name.path), name.reference)
    from berth.distribution.transports.store import StoreSource

    return StoreSource(storage_root(ctx), Reference.parse(name.reference))


def open_destination(
    name: ImageName, ctx: TransportContext, client: RegistryClient | None
) -> ImageDestination:
    """The ``ImageDestination`` for a parsed name (``client`` is needed for ``docker``)."""
    if name.transport == "docker":
        from berth.distribution.transports.docker import DockerDestination

        assert client is not None
        return DockerDestination(client, Reference.parse(name.reference))
    if name.transport == "oci":
        from berth.distribution.transports.oci import OCIDestination

        return OCIDestination(Path(name.path), name.reference)
    if name.transport == "oci-archive":
        from berth.distribution.transports.oci_archive import OCIArchiveDestination

        return OCIArchiveDestination(Path(name.path), name.reference)
    if name.transport == "docker-archive":
        from berth.distribution.transports.docker_archive import DockerArchiveDestination

        return DockerArchiveDestination(
            Path(name.path), Reference.parse(name.reference) if name.reference else None
        )
    from berth.distribution.transports.store import StoreDestination

    return StoreDestination(storage_root(ctx), Reference.parse(name.reference))


def storage_root(ctx: TransportContext) -> Path:
    """Berth's storage root: ``--root``, else ``$BERTH_ROOT``, else /var/lib/berth."""
    return ctx.root or Path(os.environ.get("BERTH_ROOT") or "/var/lib/berth")


async def copy_async(
    src: str | ImageName,
    dst: str | ImageName,
    ctx: TransportContext,
    options: CopyOptions | None = None,
    dst_ctx: TransportContext | None = None,
) -> CopyResult:
    """Copy between two transport-qualified names; ``dst_ctx`` gives the destination its own
    registry settings (skopeo's ``--dest-*`` flags), else both sides use ``ctx``."""
    src_name = src if isinstance(src, ImageName) else parse_image_name(src)
    dst_name = dst if isinstance(dst, ImageName) else parse_image_name(dst)
    dst_settings = dst_ctx or ctx
    async with (
        ctx.client() as src_client,
        dst_settings.client() as dst_client,
        open_source(src_name, ctx, src_client) as source,
        open_destination(dst_name, dst_settings, dst_client) as dest,
    ):
        return await copy_image(source, dest, options)


def copy(
    src: str | ImageName,
    dst: str | ImageName,
    ctx: TransportContext | None = None,
    options: CopyOptions | None = None,
    dst_ctx: TransportContext | None = None,
) -> CopyResult:
    """Copy an image, e.g. ``copy("docker://127.0.0.1:5000/a:1", "oci:/tmp/a:1")``; synchronous."""
    return asyncio.run(copy_async(src, dst, ctx or TransportContext(), options, dst_ctx))
