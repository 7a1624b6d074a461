"""``export`` and ``diff`` of a container made from an image."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.spec.image_config import ContainerConfig
from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.image_builder import store_busybox_image

pytestmark = pytest.mark.timeout(120)

CHANGES = "echo new > /tmp/added; echo more >> /etc/passwd; rm /etc/group; mkdir -p /srv/data"


@pytest.fixture
def changed(berth: Berth) -> Iterator[Berth]:
    """A stopped container ``c`` that added, changed and deleted files of its image."""
    store_busybox_image(
        berth.root, berth.rootfs, "berth.test/busybox:1", ContainerConfig(entrypoint=("sh", "-c"))
    )
    berth("run", "--name", "c", "--network", "none", "berth.test/busybox:1", CHANGES)
    yield berth
    berth("rm", "c", check=False)


def test_diff_lists_added_changed_and_deleted_paths(changed: Berth) -> None:
    lines = changed("diff", "c").stdout.splitlines()
    for line in (
        "A /tmp/added",
        "C /etc/passwd",
        "D /etc/group",
        "A /srv",
        "A /srv/data",
        "C /etc",
        "C /tmp",
    ):
        assert line in lines
    assert lines.index("C /etc") < lines.index("C /etc/passwd")  # parents first, as podman
    assert not any(line.endswith("/bin/busybox") for line in lines)  # untouched files are not listed


def test_export_writes_the_merged_root(changed: Berth, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "c.tar"
    changed("export", "-o", str(out), "c")
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None and passwd.read().endswith(b"more\n")
    assert {"tmp/added", "bin/busybox", "srv/data"} <= names and "etc/group" not in names
    piped = subprocess.run([*changed.argv("export", "c")], env=changed.env, capture_output=True, check=True)
    assert piped.stdout == out.read_bytes()  # deterministic: the same bytes twice
    assert list(out.parent.iterdir()) == [out]  # no temporary file left beside it


def test_refusals(changed: Berth, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    missing = changed("export", "-o", str(tmp_path / "out" / "x.tar"), "nosuch", check=False)
    assert missing.returncode == 125 and missing.stderr.count("\n") == 1
    assert list((tmp_path / "out").iterdir()) == []
    changed.run("--name", "plain", "--network", "none", "--", "true")
    plain = changed("diff", "plain", check=False)
    assert plain.returncode == 125 and "no image to compare with" in plain.stderr
