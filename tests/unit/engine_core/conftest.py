"""Fixtures of the engine's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.busybox import GROUP, PASSWD


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A container root holding only the busybox test root's /etc/passwd and /etc/group."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return tmp_path
