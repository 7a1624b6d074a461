"""Uploads in storage: hashing across requests, a restart in the middle, publishing, mismatches."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth.distribution.storage import FilesystemDriver, RegistryStore, Uploads
from berth.distribution.storage.uploads import RangeMismatch, UploadUnknown
from berth.errors import DigestMismatch
from berth.spec.digest import Digest


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def test_upload_survives_a_restart_and_is_rehashed(tmp_path: Path) -> None:
    store = RegistryStore(FilesystemDriver(tmp_path))

    async def scenario() -> None:
        first = Uploads(store)
        upload_id = await first.start("repo")
        assert await first.append("repo", upload_id, body(b"hello ", b"wor"), start=0) == 9
        restarted = Uploads(store)  # a new process: no hash state in memory
        with pytest.raises(RangeMismatch):
            await restarted.append("repo", upload_id, body(b"x"), start=3)
        assert await restarted.append("repo", upload_id, body(b"ld"), start=9) == 11
        digest = Digest.parse(f"sha256:{hashlib.sha256(b'hello world').hexdigest()}")
        assert await restarted.finish("repo", upload_id, digest) == 11
        assert await store.has_blob_link("repo", digest)
        with pytest.raises(UploadUnknown):
            await restarted.size("repo", upload_id)

    asyncio.run(scenario())


def test_mismatch_publishes_nothing(tmp_path: Path) -> None:
    store = RegistryStore(FilesystemDriver(tmp_path))

    async def scenario() -> None:
        uploads = Uploads(store)
        upload_id = await uploads.start("repo", "sha512")
        await uploads.append("repo", upload_id, body(b"data"))
        wrong = Digest.of(b"other", "sha512")
        with pytest.raises(DigestMismatch):
            await uploads.finish("repo", upload_id, wrong)
        assert await store.blob_size(Digest.of(b"data", "sha512")) is None
        assert not (tmp_path / "blobs").exists()
        with pytest.raises(UploadUnknown):
            await uploads.size("repo", upload_id)

    asyncio.run(scenario())


def test_upload_ids_are_checked(tmp_path: Path) -> None:
    uploads = Uploads(RegistryStore(FilesystemDriver(tmp_path)))
    for bad in ("../../x", "ABC", "0" * 31):
        with pytest.raises(UploadUnknown):
            asyncio.run(uploads.size("repo", bad))
