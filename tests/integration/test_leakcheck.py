"""The leak check itself must notice a leaked mount and a leaked process (else every test is hollow)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.leakcheck import Snapshot

pytestmark = pytest.mark.skipif(not Path("/proc/self/mountinfo").exists(), reason="needs Linux")


@pytest.mark.allow_leaks
def test_detects_leaked_mount_and_process(tmp_path: Path) -> None:
    before = Snapshot.take()
    target = tmp_path / "mnt"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "berth-leak-probe", str(target)], check=True)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        leaks = Snapshot.take().leaks_since(before)
        assert any(line.startswith("leaked mounts:") and str(target) in line for line in leaks)
        assert any(line.startswith("leaked children:") and str(proc.pid) in line for line in leaks)
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["umount", str(target)], check=True)
    assert Snapshot.take().leaks_since(before) == []
