"""Where the registry keeps what, on top of a ``StorageDriver``.

::

    /blobs/<alg>/<hex[:2]>/<hex>/data                        content, shared by every repository
    /repositories/<name>/_layers/<alg>/<hex>/link             "this repository has this blob"
    /repositories/<name>/_manifests/revisions/<alg>/<hex>/link  JSON: the manifest's media type
    /repositories/<name>/_manifests/tags/<tag>/link           the tagged manifest's digest
    /repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   JSON descriptor of one referrer
    /repositories/<name>/_uploads/<id>/...                     blob uploads in progress

Repository name components cannot start with ``_`` (spec.md name grammar), so the ``_`` directories
never collide with a nested repository. Blobs are content-addressed and written once; a repository
only holds links, so the same layer pushed to many repositories is stored once. Manifests are stored
as blobs too, byte for byte as pushed (spec.md#pushing-manifests).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from berth.distribution.storage.driver import PathNotFound, StorageDriver
from berth.spec.digest import Digest
from berth.spec.distribution import validate_name, validate_tag


def blob_data_path(digest: Digest) -> str:
    """Storage path of a blob's content."""
    return f"/blobs/{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}/data"


def repository_path(name: str) -> str:
    """Storage path of a repository; the name is checked against the spec's grammar first."""
    return f"/repositories/{validate_name(name)}"


def _layer_link(name: str, digest: Digest) -> str:
    return f"{repository_path(name)}/_layers/{digest.algorithm}/{digest.encoded}/link"


def _revision_link(name: str, digest: Digest) -> str:
    return f"{repository_path(name)}/_manifests/revisions/{digest.algorithm}/{digest.encoded}/link"


def _tag_link(name: str, tag: str) -> str:
    return f"{repository_path(name)}/_manifests/tags/{validate_tag(tag)}/link"


def _referrers_dir(name: str, subject: Digest) -> str:
    return f"{repository_path(name)}/_referrers/{subject.algorithm}/{subject.encoded}"


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as a repository holds it."""

    digest: Digest
    media_type: str
    content: bytes


class RegistryStore:
    """Blobs, manifests, tags and referrers of every repository, kept through one driver."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    # -- blobs ---------------------------------------------------------------------------------

    async def blob_size(self, digest: Digest) -> int | None:
        """Size of the blob in the shared store, or None if it is not there."""
        try:
            return (await self.driver.stat(blob_data_path(digest))).size
        except PathNotFound:
            return None

    async def has_blob_link(self, name: str, digest: Digest) -> bool:
        """Whether repository ``name`` holds the blob (its link and its content both exist)."""
        try:
            await self.driver.stat(_layer_link(name, digest))
        except PathNotFound:
            return False
        return await self.blob_size(digest) is not None

    async def link_blob(self, name: str, digest: Digest) -> None:
        """Record that repository ``name`` holds the blob."""
        await self.driver.put_content(_layer_link(name, digest), str(digest).encode())

    async def unlink_blob(self, name: str, digest: Digest) -> None:
        """Remove the blob from repository ``name`` (its content stays until garbage collection)."""
        await self.driver.delete(_layer_link(name, digest).rsplit("/", 1)[0])

    async def store_blob_content(self, digest: Digest, data: bytes) -> None:
        """Write a small blob (a manifest) into the shared store unless it is there already."""
        path = blob_data_path(digest)
        try:
            await self.driver.touch(path)
        except PathNotFound:
            await self.driver.put_content(path, data)

    # -- manifests and tags --------------------------------------------------------------------

    async def put_manifest(
        self, name: str, digest: Digest, media_type: str, content: bytes, tags: list[str]
    ) -> None:
        """Store a manifest's exact bytes, link it into ``name`` and point ``tags`` at it."""
        await self.store_blob_content(digest, content)
        await self.driver.put_content(
            _revision_link(name, digest), json.dumps({"mediaType": media_type}).encode()
        )
        for tag in tags:
            await self.driver.put_content(_tag_link(name, tag), str(digest).encode())

    async def manifest_media_type(self, name: str, digest: Digest) -> str | None:
        """Media type of a manifest held by ``name``, or None if it holds none with this digest."""
        try:
            link = json.loads(await self.driver.get_content(_revision_link(name, digest)))
        except PathNotFound:
            return None
        return str(link["mediaType"])

    async def get_manifest(self, name: str, digest: Digest) -> StoredManifest | None:
        """The manifest ``digest`` of repository ``name``, or None."""
        media_type = await self.manifest_media_type(name, digest)
        if media_type is None:
            return None
        try:
            content = await self.driver.get_content(blob_data_path(digest))
        except PathNotFound:
            return None
        return StoredManifest(digest, media_type, content)

    async def resolve_tag(self, name: str, tag: str) -> Digest | None:
        """The digest tag ``tag`` of ``name`` points at, or None."""
        try:
            return Digest.parse((await self.driver.get_content(_tag_link(name, tag))).decode())
        except PathNotFound:
            return None

    async def delete_tag(self, name: str, tag: str) -> bool:
        """Remove a tag; False if it did not exist."""
        try:
            await self.driver.delete(_tag_link(name, tag).rsplit("/", 1)[0])
        except PathNotFound:
            return False
        return True

    async def delete_manifest(self, name: str, digest: Digest) -> bool:
        """Remove a manifest from ``name`` with every tag pointing at it; False if it was absent."""
        try:
            await self.driver.delete(_revision_link(name, digest).rsplit("/", 1)[0])
        except PathNotFound:
            return False
        for tag in await self.list_tags(name):
            if await self.resolve_tag(name, tag) == digest:
                await self.delete_tag(name, tag)
        return True

    async def list_tags(self, name: str) -> list[str]:
        """Tags of ``name`` in ASCII order; empty if it has none."""
        try:
            return await self.driver.list(f"{repository_path(name)}/_manifests/tags")
        except PathNotFound:
            return []

    async def list_revisions(self, name: str) -> list[Digest]:
        """Digests of every manifest ``name`` holds."""
        return await self._list_digests(f"{repository_path(name)}/_manifests/revisions")

    async def list_layer_links(self, name: str) -> list[Digest]:
        """Digests of every blob ``name`` links."""
        return await self._list_digests(f"{repository_path(name)}/_layers")

    async def _list_digests(self, base: str) -> list[Digest]:
        found: list[Digest] = []
        try:
            algorithms = await self.driver.list(base)
        except PathNotFound:
            return found
        for algorithm in algorithms:
            for encoded in await self.driver.list(f"{base}/{algorithm}"):
                found.append(Digest(algorithm, encoded))
        return found

    async def repository_exists(self, name: str) -> bool:
        """Whether anything was ever pushed to ``name``."""
        try:
            await self.driver.stat(repository_path(name))
        except PathNotFound:
            return False
        return True

    async def list_repositories(self) -> list[str]:
        """Names of every repository, in ASCII order."""
        names: list[str] = []
        await self._walk_repositories("/repositories", "", names)
        return sorted(names)

    async def list_repositories_with_uploads(self) -> list[str]:
        """Names of repositories with uploads in progress (they may hold nothing else yet)."""
        names: list[str] = []
        await self._walk_repositories("/repositories", "", names, ("_uploads",))
        return sorted(names)

    async def _walk_repositories(
        self, path: str, prefix: str, out: list[str], marks: tuple[str, ...] = ("_manifests", "_layers")
    ) -> None:
        try:
            children = await self.driver.list(path)
        except PathNotFound:
            return
        if prefix and any(c in marks for c in children):
            out.append(prefix)
        for child in children:
            if not child.startswith(("_", ".")):
                await self._walk_repositories(f"{path}/{child}", f"{prefix}/{child}".lstrip("/"), out, marks)

    # -- referrers -----------------------------------------------------------------------------

    async def add_referrer(self, name: str, subject: Digest, descriptor: dict[str, Any]) -> None:
        """Record that the manifest ``descriptor`` refers to ``subject`` (spec.md#listing-referrers)."""
        ref = Digest.parse(descriptor["digest"])
        path = f"{_referrers_dir(name, subject)}/{ref.algorithm}-{ref.encoded}"
        await self.driver.put_content(path, json.dumps(descriptor).encode())

    async def remove_referrer(self, name: str, subject: Digest, referrer: Digest) -> None:
        """Forget one referrer of ``subject`` (its manifest was deleted)."""
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(
                f"{_referrers_dir(name, subject)}/{referrer.algorithm}-{referrer.encoded}"
            )

    async def referrers(self, name: str, subject: Digest) -> list[dict[str, Any]]:
        """Descriptors of the manifests in ``name`` whose subject is ``subject``."""
        base = _referrers_dir(name, subject)
        try:
            entries = await self.driver.list(base)
        except PathNotFound:
            return []
        found = []
        for entry in entries:
            try:
                found.append(json.loads(await self.driver.get_content(f"{base}/{entry}")))
            except PathNotFound:
                continue  # deleted while we listed
        return found
