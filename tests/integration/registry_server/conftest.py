"""Fixtures: an anonymous registry in a fresh root for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.server import RegistryConfig
from tests.integration.registry_server.harness import Server, running_registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Server]:
    with running_registry(RegistryConfig(root=tmp_path / "root")) as server:
        yield server
