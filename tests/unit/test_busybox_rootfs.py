"""The shared busybox test root has the applets and accounts the other tests rely on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.busybox import make_rootfs


def test_rootfs_has_shell_and_applets(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path / "rootfs")
    assert (root / "bin/busybox").stat().st_size > 0
    assert (root / "bin/sh").is_symlink()
    out = subprocess.run([str(root / "bin/busybox"), "echo", "hi"], capture_output=True, text=True)
    assert out.stdout == "hi\n"
    assert "berth:x:1000:1000" in (root / "etc/passwd").read_text()
