"""Fixtures: a docker-registry on 127.0.0.1 per module, and transport settings for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.client.registry import RetryPolicy
from berth.distribution.transports import TransportContext
from tests.integration.registry_client.docker_registry import DockerRegistry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    """An anonymous docker-registry, shared by a module's tests (each test uses its own repository)."""
    with DockerRegistry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture
def ctx(tmp_path: Path) -> TransportContext:
    """Plain-HTTP registry access with fast retries and an empty auth file."""
    return TransportContext(
        tls_verify=False,
        authfile=tmp_path / "auth.json",
        retry=RetryPolicy(attempts=4, base=0.01),
        root=tmp_path / "root",
    )
