"""Operations on one repository of a registry (distribution-spec spec.md, pull and push).

Manifests are verified here (by-digest fetches always; ``Docker-Content-Digest`` when sent). Blob
bodies are returned unverified as a stream that survives dropped connections by resuming with
``Range``; the copier hashes them on the way to their destination.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass

from berth.distribution.client.auth import scope_for
from berth.distribution.client.errors import BlobUnknown, ManifestUnknown, RegistryError
from berth.distribution.client.registry import Registry, connection_errors
from berth.distribution.credentials import Credentials
from berth.errors import DigestMismatch, InvalidArgument
from berth.spec import mediatypes
from berth.spec.digest import Digest

#: spec.md#pulling-manifests: the client names every manifest type it understands.
MANIFEST_ACCEPT = ", ".join(
    [
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    ]
)
#: Blobs up to this size go up in one PUT; larger ones in PATCH chunks of ``CHUNK_SIZE``.
MONOLITHIC_MAX = 8 << 20
CHUNK_SIZE = 32 << 20
_READ_SIZE = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as fetched: its bytes, media type and (verified) digest."""

    data: bytes
    media_type: str
    digest: Digest


@dataclass(frozen=True)
class ManifestHead:
    """What ``HEAD`` on a manifest tells: media type, digest and size."""

    media_type: str
    digest: Digest | None
    size: int


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _media_type_of(data: bytes, header: str | None) -> str:
    """The manifest's media type: the Content-Type, else its ``mediaType`` field (image-spec allows
    omitting it in old OCI manifests)."""
    ctype = (header or "").split(";", 1)[0].strip()
    if ctype in mediatypes.MANIFEST_OR_INDEX_TYPES:
        return ctype
    try:
        doc = json.loads(data)
    except ValueError:
        return ctype
    field = doc.get("mediaType") if isinstance(doc, dict) else None
    if isinstance(field, str) and field:
        return field
    if isinstance(doc, dict) and "manifests" in doc:
        return mediatypes.OCI_INDEX
    if isinstance(doc, dict) and "config" in doc:
        return mediatypes.OCI_MANIFEST
    return ctype


class Repository:
    """A repository on a registry, with the credentials and token scopes its operations need."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        creds: Credentials | None = None,
        *,
        push: bool = False,
        extra_scopes: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        self.name = name
        self.creds = creds
        actions = ("pull", "push") if push else ("pull",)
        self.scopes = (scope_for(name, actions), *extra_scopes)

    def __str__(self) -> str:
        return f"{self.registry.host}/{self.name}"

    # -- manifests (spec.md#pulling-manifests, #pushing-manifests)

    async def get_manifest(self, reference: str) -> Manifest:
        """Fetch the manifest or index tagged ``reference`` or with digest ``reference``, verified."""
        resp = await self.registry.send(
            "GET", f"/v2/{self.name}/manifests/{reference}", creds=self.creds, scopes=self.scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )  # fmt: skip
        if resp.status == 404:
            raise ManifestUnknown(f"manifest unknown: {self}:{reference}" if not _is_digest(reference)
                                  else f"manifest unknown: {self}@{reference}")  # fmt: skip
        if resp.status != 200:
            raise self.registry.error(resp, f"manifest {self}:{reference}", self.creds)
        expected = Digest.parse(reference) if _is_digest(reference) else None
        header = resp.headers.get("Docker-Content-Digest")
        if expected is None and header:
            expected = Digest.parse(header)
        algorithm = expected.algorithm if expected is not None and expected.verifiable else "sha256"
        actual = Digest.of(resp.body, algorithm)
        if expected is not None and expected.verifiable and actual != expected:
            raise DigestMismatch(f"manifest {self}:{reference} has digest {actual}, expected {expected}")
        return Manifest(resp.body, _media_type_of(resp.body, resp.headers.get("Content-Type")), actual)

    async def head_manifest(self, reference: str) -> ManifestHead | None:
        """``HEAD`` the manifest: its media type, digest and size, or None if it does not exist."""
        resp = await self.registry.send(
            "HEAD", f"/v2/{self.name}/manifests/{reference}", creds=self.creds, scopes=self.scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )  # fmt: skip
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self.registry.error(resp, f"manifest {self}:{reference}", self.creds)
        header = resp.headers.get("Docker-Content-Digest")
        ctype = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return ManifestHead(
            ctype, Digest.parse(header) if header else None, int(resp.headers.get("Content-Length", -1))
        )

    async def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        """Upload a manifest under a tag or its digest; return its digest."""
        return (await self._put_manifest(reference, data, media_type))[0]

    async def put_referrer(self, data: bytes, media_type: str, subject: Digest) -> Digest:
        """Upload a manifest whose ``subject`` is ``subject``, by its digest; return its digest.

        A registry that indexes referrers says so with an ``OCI-Subject`` header; for one that does
        not, the manifest is added to the referrers tag schema's index (spec.md#pushing-manifests-
        with-subject: tag ``<alg>-<encoded>``), which ``referrers`` reads as the fallback.
        """
        digest, headers = await self._put_manifest(str(Digest.of(data)), data, media_type)
        if headers.get("OCI-Subject"):
            return digest
        tag = f"{subject.algorithm}-{subject.encoded}"
        try:
            index = json.loads((await self.get_manifest(tag)).data)
        except ManifestUnknown:
            index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
        except ValueError:
            raise RegistryError(f"{self}: malformed referrers index {tag}") from None
        manifest = json.loads(data)
        entry = {"mediaType": media_type, "digest": str(digest), "size": len(data)}
        entry.update({k: manifest[k] for k in ("artifactType", "annotations") if k in manifest})
        if all(m.get("digest") != str(digest) for m in index.get("manifests") or []):
            index["manifests"] = [*(index.get("manifests") or []), entry]
            body = json.dumps(index, separators=(",", ":")).encode()
            await self._put_manifest(tag, body, mediatypes.OCI_INDEX)
        return digest

    async def _put_manifest(
        self, reference: str, data: bytes, media_type: str
    ) -> tuple[Digest, Mapping[str, str]]:
        digest = Digest.of(data)
        if _is_digest(reference) and Digest.parse(reference) != digest:
            raise DigestMismatch(f"manifest does not match the digest {reference} it is pushed under")
        resp = await self.registry.request(
            "PUT", f"/v2/{self.name}/manifests/{reference}", creds=self.creds, scopes=self.scopes,
            headers={"Content-Type": media_type}, data=data, expect=(201, 200),
            what=f"manifest upload to {self}:{reference}",
        )  # fmt: skip
        # spec.md#pushing-manifests: the registry names the digest it stored; it must be ours.
        stored = resp.headers.get("Docker-Content-Digest")
        if stored and Digest.parse(stored).algorithm == digest.algorithm and Digest.parse(stored) != digest:
            raise DigestMismatch(f"{self} stored manifest {reference} as {stored}, expected {digest}")
        return digest, resp.headers

    async def tags(self) -> list[str]:
        """Every tag (spec.md#listing-tags), following ``Link`` pagination."""
        found: list[str] = []
        path: str | None = f"/v2/{self.name}/tags/list"
        while path:
            resp = await self.registry.request(
                "GET", path, creds=self.creds, scopes=self.scopes, what=f"tag list of {self}"
            )
            try:
                found += json.loads(resp.body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{self}: malformed tag list") from None
            link = resp.headers.get("Link", "")
            path = link.split(";")[0].strip().strip("<>") if 'rel="next"' in link else None
        return found

    async def referrers(self, digest: Digest, artifact_type: str = "") -> list[dict[str, object]]:
        """Descriptors of manifests whose ``subject`` is ``digest`` (spec.md#listing-referrers).

        Registries without the referrers API are asked for the tag schema's index instead
        (spec.md#referrers-tag-schema: tag ``<alg>-<encoded>``).
        """
        params = [("artifactType", artifact_type)] if artifact_type else None
        resp = await self.registry.send(
            "GET", f"/v2/{self.name}/referrers/{digest}", creds=self.creds, scopes=self.scopes,
            headers={"Accept": mediatypes.OCI_INDEX}, params=params,
        )  # fmt: skip
        filtered = False
        if resp.status == 200:
            body = resp.body
            filtered = "artifactType" in resp.headers.get("OCI-Filters-Applied", "")
        elif resp.status == 404:
            try:
                body = (await self.get_manifest(f"{digest.algorithm}-{digest.encoded}")).data
            except ManifestUnknown:
                return []
        else:
            raise self.registry.error(resp, f"referrers of {self}@{digest}", self.creds)
        try:
            manifests = json.loads(body).get("manifests") or []
        except (ValueError, AttributeError):
            raise RegistryError(f"{self}: malformed referrers index for {digest}") from None
        if artifact_type and not filtered:
            manifests = [m for m in manifests if m.get("artifactType") == artifact_type]
        return list(manifests)

    # -- blobs (spec.md#pulling-blobs, #pushing-blobs)

    async def has_blob(self, digest: Digest) -> bool:
        """Whether the repository has the blob (``HEAD``)."""
        resp = await self.registry.send(
            "HEAD", f"/v2/{self.name}/blobs/{digest}", creds=self.creds, scopes=self.scopes
        )
        if resp.status in (200, 307, 302):
            return True
        if resp.status == 404:
            return False
        raise self.registry.error(resp, f"blob {self}@{digest}", self.creds)

    async def fetch_blob(self, digest: Digest, size: int) -> AsyncIterator[bytes]:
        """Stream the blob's bytes (unverified); a dropped connection resumes with ``Range``.

        Gives up after the registry's retry policy's number of consecutive failures.
        """
        received = 0
        failures = 0
        path = f"/v2/{self.name}/blobs/{digest}"
        policy = self.registry.retry
        resumable: tuple[type[BaseException], ...] = (*connection_errors(), _Truncated)
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                resp = await self.registry.open_stream(
                    path, creds=self.creds, scopes=self.scopes, headers=headers
                )
            except connection_errors() as err:
                failures += 1
                if failures >= policy.attempts:
                    raise RegistryError(
                        f"download of {digest} from {self} failed: {err or type(err).__name__}"
                    ) from None
                await asyncio.sleep(policy.delay(failures - 1))
                continue
            try:
                if resp.status == 404:
                    raise BlobUnknown(f"blob unknown: {self}@{digest}")
                if resp.status not in (200, 206):
                    if resp.status in (500, 502, 503, 504) and failures + 1 < policy.attempts:
                        failures += 1
                        await asyncio.sleep(policy.delay(failures - 1))
                        continue
                    raise self.registry.error(resp, f"blob {self}@{digest}", self.creds)
                # A server that ignores Range sends everything again: skip what we already have.
                skip = received if resp.status == 200 else _range_start_gap(resp.headers, received)
                async for chunk in resp.content.iter_chunked(_READ_SIZE):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk, skip = chunk[skip:], 0
                    received += len(chunk)
                    failures = 0
                    if received > size:
                        raise DigestMismatch(f"blob {digest} from {self} is longer than its size {size}")
                    yield chunk
                if received == size:
                    return
                raise _Truncated()
            except resumable as err:
                failures += 1
                if failures >= policy.attempts:
                    raise RegistryError(
                        f"download of {digest} from {self} failed at byte {received} of {size}: "
                        f"{str(err) or type(err).__name__}"
                    ) from None
                await asyncio.sleep(policy.delay(failures - 1))
            finally:
                resp.release()

    async def mount_blob(self, digest: Digest, source: str) -> str | None:
        """Cross-repository mount (spec.md#mounting-a-blob-from-another-repository).

        Returns None when mounted, else the upload ``Location`` the registry opened instead.
        """
        resp = await self.registry.request(
            "POST", f"/v2/{self.name}/blobs/uploads/", creds=self.creds, scopes=self.scopes,
            params=[("mount", str(digest)), ("from", source)], expect=(201, 202),
            what=f"blob mount into {self}",
        )  # fmt: skip
        return None if resp.status == 201 else self._location(resp.headers)

    async def upload_blob(
        self, digest: Digest, size: int, chunks: AsyncIterator[bytes], location: str | None = None
    ) -> None:
        """Push a blob: one PUT when small, PATCH chunks then PUT when large (spec.md#pushing-blobs)."""
        if location is None:
            resp = await self.registry.request(
                "POST", f"/v2/{self.name}/blobs/uploads/", creds=self.creds, scopes=self.scopes,
                expect=(202,), what=f"blob upload to {self}",
            )  # fmt: skip
            location = self._location(resp.headers)
        if size <= MONOLITHIC_MAX:
            body = b"".join([c async for c in chunks])
            await self._finish_upload(location, digest, body)
            return
        offset = 0
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            if len(buffer) >= CHUNK_SIZE:
                location = await self._patch(location, offset, bytes(buffer))
                offset += len(buffer)
                buffer.clear()
        if buffer:
            location = await self._patch(location, offset, bytes(buffer))
        await self._finish_upload(location, digest, None)

    async def _patch(self, location: str, offset: int, data: bytes) -> str:
        """Send one chunk; after a 416 (the registry kept part of an earlier, failed attempt) ask
        where the upload stands (spec.md#getting-the-upload-status) and send only the rest."""
        sent_from = offset
        for _ in range(self.registry.retry.attempts):
            # spec.md#pushing-a-blob-in-chunks: Content-Range is inclusive and must continue the upload.
            part = data[sent_from - offset :]
            resp = await self.registry.send(
                "PATCH", location, creds=self.creds, scopes=self.scopes,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{sent_from}-{sent_from + len(part) - 1}"},
                data=part,
            )  # fmt: skip
            if resp.status == 202:
                return self._location(resp.headers)
            if resp.status != 416:
                raise self.registry.error(resp, f"blob chunk upload to {self}", self.creds)
            location, stored = await self._upload_status(location)
            if not offset <= stored < offset + len(data):
                raise RegistryError(
                    f"{self}: upload holds {stored} bytes, cannot resume the chunk at {offset}"
                )
            sent_from = stored
        raise RegistryError(f"{self}: blob chunk upload at byte {offset} kept failing")

    async def _upload_status(self, location: str) -> tuple[str, int]:
        """The upload's ``Location`` and how many bytes the registry holds (its ``Range: 0-N``)."""
        resp = await self.registry.request(
            "GET",
            location,
            creds=self.creds,
            scopes=self.scopes,
            expect=(204,),
            what=f"upload status in {self}",
        )
        try:
            end = int(resp.headers.get("Range", "").split("-", 1)[1])
        except (IndexError, ValueError):
            raise RegistryError(f"{self}: upload status has no valid Range header") from None
        return self._location(resp.headers), end + 1

    async def _finish_upload(self, location: str, digest: Digest, data: bytes | None) -> None:
        import yarl

        url = str(yarl.URL(self.registry.url(location)).update_query({"digest": str(digest)}))
        headers = {"Content-Type": "application/octet-stream"}
        await self.registry.request(
            "PUT", url, creds=self.creds, scopes=self.scopes, headers=headers, data=data or b"",
            expect=(201, 204), what=f"blob upload of {digest} to {self}",
        )  # fmt: skip

    def _location(self, headers: Mapping[str, str]) -> str:
        location = headers.get("Location")
        if not location:
            raise RegistryError(f"{self}: upload response has no Location header")
        return str(location)


class _Truncated(Exception):
    """The body ended cleanly before the blob's size (a proxy or server cut it short)."""


def _range_start_gap(headers: Mapping[str, str], received: int) -> int:
    """Bytes to drop from a 206 body whose ``Content-Range`` starts before ``received``."""
    try:
        start = int(headers.get("Content-Range", "").split(" ", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return 0
    if start > received:
        raise InvalidArgument(f"registry resumed at byte {start}, after the {received} already read")
    return received - start
