"""The test image's root filesystem, built from Debian's busybox-static (no network needed).

``make_rootfs`` lays out a minimal tree: ``/bin/busybox`` plus one symlink per applet at the path
``busybox --list-full`` gives, the directories a container expects, and ``/etc/passwd`` and
``/etc/group`` with root, a ``nobody`` user and a ``berth`` user (uid/gid 1000) for user-resolution
tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "berth:x:1000:1000:berth:/home/berth:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nberth:x:1000:\nextra:x:2000:berth\nnogroup:x:65534:\n"


def applets() -> list[str]:
    """Install paths of every applet, relative to the root (e.g. ``usr/bin/env``)."""
    out = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True)
    return [line for line in out.stdout.split() if line and line != "bin/busybox"]


def make_rootfs(root: Path) -> Path:
    """Create the busybox test root filesystem at ``root`` (created if missing) and return it."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/berth", "tmp", "proc", "sys", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in applets():
        link = root / applet
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root
