"""The README's first command, scripts/demo.sh, works end to end and leaves nothing behind."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_demo_builds_serves_pulls_and_runs_an_image() -> None:
    before = set(glob.glob("/tmp/berth-demo.*"))
    env = dict(os.environ, BERTH_DEMO_SKIP_SETUP="1")
    out = subprocess.run(
        [str(REPO / "scripts/demo.sh")], env=env, capture_output=True, text=True, timeout=280
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "hello"
    assert any(
        line.startswith("==> berth pull 127.0.0.1:") or "berth pull 127.0.0.1:" in line for line in lines
    )
    assert set(glob.glob("/tmp/berth-demo.*")) == before
