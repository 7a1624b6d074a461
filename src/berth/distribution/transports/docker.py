"""``docker://REFERENCE``: an image in a registry, through the registry client.

Pulls try registries.conf mirrors before the registry itself. Pushes skip blobs the repository has
(``HEAD``) and mount blobs from the source repository when both are on the same registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from berth.distribution.client.auth import scope_for
from berth.distribution.client.errors import RegistryError
from berth.distribution.client.repository import Repository
from berth.distribution.client.session import RegistryClient
from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.errors import DigestMismatch, NotFound
from berth.spec.descriptor import Descriptor
from berth.spec.reference import Reference


class DockerSource(ImageSource):
    """Reads ``reference`` from its registry (or a mirror of it)."""

    transport = "docker"

    def __init__(self, client: RegistryClient, reference: Reference) -> None:
        self.client = client
        self.reference = reference
        self.repository: Repository | None = None

    async def top_manifest(self) -> RawManifest:
        """Fetch the tagged or digested manifest, from the first endpoint that has it."""
        ref = self.reference
        wanted = str(ref.digest) if ref.digest else ref.tag
        last: Exception | None = None
        for repo in self.client.pull_repositories(ref.name, by_digest=ref.digest is not None):
            try:
                got = await repo.get_manifest(wanted)
            except (RegistryError, NotFound) as err:
                last = err
                continue
            self.repository = repo
            return RawManifest(got.data, got.media_type)
        assert last is not None
        raise last

    def _repo(self) -> Repository:
        assert self.repository is not None, "top_manifest() first"
        return self.repository

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """Fetch a manifest by digest (verified by the client)."""
        got = await self._repo().get_manifest(str(desc.digest))
        if len(got.data) != desc.size:
            raise DigestMismatch(f"manifest {desc.digest} has {len(got.data)} bytes, expected {desc.size}")
        return RawManifest(got.data, got.media_type)

    def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """Stream a blob, resuming after dropped connections."""
        return self._repo().fetch_blob(desc.digest, desc.size)


class DockerDestination(ImageDestination):
    """Writes to ``reference`` (a tag, or a digest that must match the manifest pushed)."""

    transport = "docker"

    def __init__(self, client: RegistryClient, reference: Reference) -> None:
        self.client = client
        self.reference = reference
        self._repos: dict[tuple[str, ...], Repository] = {}

    def _repo(self, extra_scopes: tuple[str, ...] = ()) -> Repository:
        repo = self._repos.get(extra_scopes)
        if repo is None:
            repo = self.client.push_repository(self.reference.name, extra_scopes)
            self._repos[extra_scopes] = repo
        return repo

    def repository(self) -> Repository:
        """The destination repository, with push access (signatures are written there too)."""
        return self._repo()

    async def has_blob(self, desc: Descriptor) -> bool:
        """``HEAD`` the blob in the destination repository."""
        return await self._repo().has_blob(desc.digest)

    def _mount_source(self, source: ImageSource) -> Repository | None:
        if not isinstance(source, DockerSource) or source.repository is None:
            return None
        src_repo = source.repository
        dst_host = self.client.conf.push_endpoint(self.reference.name)[0].location
        if src_repo.registry.host != dst_host or src_repo.name == self._repo().name:
            return None
        return src_repo

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Mount from the source repository if it is on the same registry, else upload."""
        location = None
        src_repo = self._mount_source(source)
        if src_repo is not None:
            repo = self._repo((scope_for(src_repo.name, ["pull"]),))
            location = await repo.mount_blob(desc.digest, src_repo.name)
            if location is None:
                return  # spec.md#mounting-a-blob-from-another-repository: 201, mounted
        else:
            repo = self._repo()
        await repo.upload_blob(desc.digest, desc.size, chunks, location)

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Push a child manifest by digest."""
        await self._repo().put_manifest(str(manifest.digest), manifest.data, manifest.media_type)

    async def commit(self, top: RawManifest) -> None:
        """Push the top-level manifest under the destination's tag (or digest)."""
        ref = self.reference
        target = str(ref.digest) if ref.digest else ref.tag
        if ref.digest and ref.digest != top.digest:
            raise DigestMismatch(f"pushed manifest has digest {top.digest}, destination names {ref.digest}")
        await self._repo().put_manifest(target, top.data, top.media_type)
