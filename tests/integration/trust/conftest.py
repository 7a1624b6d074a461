"""Fixtures: Berth's registry on 127.0.0.1 per module, transport settings for it, and key pairs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from berth.distribution.client.registry import RetryPolicy
from berth.distribution.client.session import RegistryClient
from berth.distribution.transports import TransportContext
from berth.trust import keys
from tests.integration.registry_server.peers import serve_cli

T = TypeVar("T")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``berth registry serve`` over plain HTTP; yields ``127.0.0.1:PORT``."""
    with serve_cli(tmp_path_factory.mktemp("registry")) as addr:
        yield addr


@pytest.fixture
def ctx(tmp_path: Path) -> TransportContext:
    return TransportContext(
        tls_verify=False,
        authfile=tmp_path / "auth.json",
        retry=RetryPolicy(base=0.01),
        root=tmp_path / "root",
    )


@pytest.fixture(scope="module")
def pair() -> keys.KeyPair:
    return keys.generate(b"pw")


@pytest.fixture(scope="module")
def other_pair() -> keys.KeyPair:
    return keys.generate(b"pw")


def with_client(ctx: TransportContext, work: Callable[[RegistryClient], Awaitable[T]]) -> T:
    """Run ``work`` with a registry client for ``ctx``."""

    async def run() -> T:
        async with ctx.client() as client:
            return await work(client)

    return asyncio.run(run())


def assert_store_empty(root: Path) -> None:
    """Nothing in the store under ``root``: no image record, no blob, no lease."""
    from berth.image.images import ImageStore

    store = ImageStore(root / "images")
    try:
        assert store.list() == []
        assert list(store.content.list()) == []
        assert store.content.leases.list() == []
    finally:
        store.close()
