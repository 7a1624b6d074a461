"""Fixtures of the inventory tests: ``berth`` run in-process on a temporary root, and a Debian
root made by mmdebstrap (cached for the day)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.inventory.runner import Sbom

CACHE = Path("/var/cache/berth-test")


@pytest.fixture
def sbom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Sbom:
    return Sbom(tmp_path, capsys)


@pytest.fixture(scope="session")
def debian_tar() -> Path:
    """A bookworm minbase root made by mmdebstrap (~20-60 s), cached for the day."""
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (scripts/setup.sh installs it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / f"mmdebstrap-bookworm-minbase-{datetime.date.today()}.tar"
    if not tar.exists():
        partial = tar.with_suffix(".partial.tar")
        subprocess.run(
            ["nice", "mmdebstrap", "--quiet", "--variant=minbase", "bookworm", str(partial)], check=True
        )
        partial.rename(tar)
        for old in CACHE.glob("mmdebstrap-bookworm-minbase-*.tar"):
            if old != tar:
                old.unlink()
    return tar
