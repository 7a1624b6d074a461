"""Several processes tagging images in one OCI layout at once: no tag is lost, index.json stays valid."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from berth.image.layout import ImageLayout

TAGGER = textwrap.dedent(
    """
    import sys
    from berth.image.layout import ImageLayout
    from berth.image.store import ContentStore
    from tests.unit.image_store.imagefactory import add_manifest
    store = ContentStore(sys.argv[2])
    layout = ImageLayout(sys.argv[1])
    for i in range(10):
        desc, _ = add_manifest(store, layers=1)
        layout.copy_from(store, desc, tag=f"{sys.argv[3]}-{i}")
    """
)


@pytest.mark.timeout(120)
def test_concurrent_taggers_keep_every_tag(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "oci")
    cwd = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TAGGER, str(layout.path), str(tmp_path / f"s{n}"), f"p{n}"], cwd=cwd
        )
        for n in range(3)
    ]
    assert [p.wait(timeout=110) for p in procs] == [0, 0, 0]
    assert sorted(layout.tags()) == sorted(f"p{n}-{i}" for n in range(3) for i in range(10))
    for tag in layout.tags():
        layout.resolve(tag)
    assert sorted(p.name for p in layout.path.iterdir()) == ["blobs", "index.json", "oci-layout"]
