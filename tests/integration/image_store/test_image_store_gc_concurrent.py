"""Garbage collection running in one process while another pulls under a lease."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.spec.platform import Platform

PULLER = textwrap.dedent(
    """
    import sys
    from berth.image.images import ImageStore
    from tests.unit.image_store.imagefactory import add_manifest
    images = ImageStore(sys.argv[1])
    for i in range(15):
        lease = images.content.leases.create(expires_in=600)
        desc, _ = add_manifest(images.content, layers=3, lease=lease.id)
        images.put(f"pulled:{i}", desc)
        images.content.leases.delete(lease.id)
    """
)

COLLECTOR = textwrap.dedent(
    """
    import sys
    from berth.image.images import ImageStore
    images = ImageStore(sys.argv[1])
    for _ in range(40):
        images.gc(ingest_grace=0)
    """
)


@pytest.mark.timeout(120)
def test_gc_while_pulling_keeps_every_pulled_image(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    env_cwd = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, root], cwd=env_cwd)
        for code in (PULLER, COLLECTOR, PULLER)
    ]
    assert [p.wait(timeout=110) for p in procs] == [0, 0, 0]
    images = ImageStore(root)
    try:
        names = [i.name for i in images.list()]
        assert len(names) == 15
        for name in names:
            images.resolve(name, Platform.parse("linux/amd64"))
        assert fsck(images.content, images) == []
        assert images.content.leases.list() == []
        # Both pullers wrote every tag; whatever was overwritten is garbage, the rest is exactly
        # the 15 images (3 layers, a config and a manifest each).
        images.gc(ingest_grace=0)
        assert len(list(images.content.list())) == 15 * 5
    finally:
        images.close()
