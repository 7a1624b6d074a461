"""Blob uploads in progress (spec.md#pushing-blobs): streamed, hashed while written, then published.

An upload lives under ``/repositories/<name>/_uploads/<id>/`` until its closing ``PUT``: ``data`` is the
bytes received so far, ``startedat`` its start time (for the cleanup of abandoned uploads). The hash
state of each upload stays in memory between requests; if the process restarted meanwhile, or the
client names another algorithm at the end, the data is hashed again from storage. Publishing moves
the verified data to the shared blob path in one rename, so no partial blob is ever visible.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

from berth.distribution.storage.driver import FileWriter, PathNotFound
from berth.distribution.storage.layout import RegistryStore, blob_data_path, repository_path
from berth.errors import DigestMismatch, NotFound
from berth.spec.digest import Digest, Hasher, new_hasher

_UPLOAD_ID = re.compile(r"^[a-f0-9]{32}$")
#: Hash states kept in memory; past this the oldest are dropped (their uploads are rehashed at the end).
_MAX_HASH_STATES = 10_000


class UploadUnknown(NotFound):
    """No upload with this id exists in this repository."""


class RangeMismatch(Exception):
    """A chunk does not start where the upload ends (spec.md: 416 Requested Range Not Satisfiable)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"upload is at offset {size}")
        self.size = size


def _upload_dir(name: str, upload_id: str) -> str:
    if not _UPLOAD_ID.match(upload_id):
        raise UploadUnknown(f"unknown upload {upload_id!r}")
    return f"{repository_path(name)}/_uploads/{upload_id}"


@dataclass
class _HashState:
    hasher: Hasher
    offset: int


class Uploads:
    """Starts, appends to, finishes and cancels the uploads of every repository."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.driver = store.driver
        self._hashes: dict[str, _HashState] = {}
        self._busy: set[str] = set()
        self.bytes_received = 0

    async def start(self, name: str, algorithm: str = "sha256") -> str:
        """Begin an upload in ``name``; return its id. ``algorithm`` picks the running hash."""
        new_hasher(algorithm)  # reject unsupported algorithms before creating anything
        upload_id = uuid.uuid4().hex
        base = _upload_dir(name, upload_id)
        await self.driver.put_content(f"{base}/startedat", repr(time.time()).encode())
        writer = await self.driver.writer(f"{base}/data")
        await writer.close()
        if len(self._hashes) >= _MAX_HASH_STATES:
            del self._hashes[next(iter(self._hashes))]
        self._hashes[upload_id] = _HashState(new_hasher(algorithm), 0)
        return upload_id

    async def size(self, name: str, upload_id: str) -> int:
        """Bytes received so far; ``UploadUnknown`` if there is no such upload."""
        writer = await self._open(name, upload_id)
        try:
            return writer.size
        finally:
            await writer.close()

    async def _open(self, name: str, upload_id: str) -> FileWriter:
        base = _upload_dir(name, upload_id)
        try:
            await self.driver.stat(f"{base}/startedat")
        except PathNotFound:
            raise UploadUnknown(f"unknown upload {upload_id}") from None
        return await self.driver.writer(f"{base}/data", append=True)

    async def _claim(self, name: str, upload_id: str) -> FileWriter:
        """Open the upload for one request; the caller discards ``upload_id`` from ``_busy`` after."""
        writer = await self._open(name, upload_id)
        if upload_id in self._busy:
            # Another request still writes this upload (a chunk arriving): this one cannot start
            # where it ends.
            size = writer.size
            await writer.close()
            raise RangeMismatch(size)
        self._busy.add(upload_id)
        return writer

    async def append(
        self, name: str, upload_id: str, body: AsyncIterable[bytes], start: int | None = None
    ) -> int:
        """Append a streamed chunk; return the new size.

        ``start`` (from ``Content-Range``) must equal the current size, else ``RangeMismatch``. If the
        client goes away mid-chunk, what arrived stays: it is a prefix of the blob, the hash state
        follows it, and the upload's status (its ``Range``) tells the client where to resume.
        """
        writer = await self._claim(name, upload_id)
        try:
            if start is not None and start != writer.size:
                raise RangeMismatch(writer.size)
            state = self._hashes.get(upload_id)
            if state is not None and state.offset != writer.size:
                state = None
                self._hashes.pop(upload_id, None)
            async for chunk in body:
                await writer.write(chunk)
                if state is not None:
                    state.hasher.update(chunk)
                    state.offset += len(chunk)
                self.bytes_received += len(chunk)
            return writer.size
        finally:
            self._busy.discard(upload_id)
            await writer.close()

    async def finish(self, name: str, upload_id: str, expected: Digest) -> int:
        """Verify the upload hashes to ``expected``, publish the blob into ``name``; return its size.

        On a mismatch the upload is cancelled, nothing is published, and ``DigestMismatch`` is raised.
        """
        writer = await self._claim(name, upload_id)
        try:
            return await self._publish(name, upload_id, writer, expected)
        finally:
            self._busy.discard(upload_id)

    async def _publish(self, name: str, upload_id: str, writer: FileWriter, expected: Digest) -> int:
        base = _upload_dir(name, upload_id)
        size = writer.size
        await writer.commit()
        state = self._hashes.pop(upload_id, None)
        if state is not None and state.offset == size and state.hasher.algorithm == expected.algorithm:
            actual = state.hasher.digest()
        else:
            hasher = expected.hasher()
            async for chunk in self.driver.reader(f"{base}/data"):
                hasher.update(chunk)
            actual = hasher.digest()
        if actual != expected:
            await self.cancel(name, upload_id)
            raise DigestMismatch(f"upload hashes to {actual}, not {expected}")
        if await self.store.blob_size(expected) is None:
            await self.driver.move(f"{base}/data", blob_data_path(expected))
        else:
            await self.driver.touch(blob_data_path(expected))
        await self.store.link_blob(name, expected)
        await self.driver.delete(base)
        return size

    async def cancel(self, name: str, upload_id: str) -> None:
        """Abandon an upload and delete what it received; ``UploadUnknown`` if absent."""
        self._hashes.pop(upload_id, None)
        try:
            await self.driver.delete(_upload_dir(name, upload_id))
        except PathNotFound:
            raise UploadUnknown(f"unknown upload {upload_id}") from None
