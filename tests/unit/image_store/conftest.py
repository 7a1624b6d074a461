"""Fixtures of the image store's unit tests: a content store and the image store over it, under the
test's own temporary directory and closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.image.images import ImageStore
from berth.image.store import ContentStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContentStore]:
    """An empty content store in ``tmp_path/store``."""
    s = ContentStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def images(store: ContentStore) -> ImageStore:
    """An image store over ``store`` (closing ``store`` closes it)."""
    return ImageStore(store)
