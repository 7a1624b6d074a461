"""``berth pull`` interrupted: killed half way (then pruned), or out of disk space; nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.test_engine_image_pull import registry

__all__ = ["registry"]

pytestmark = pytest.mark.timeout(240)


def push_random_image(tmp_path: Path, berth: Berth, registry: str, name: str, mib: int) -> str:
    """Push an image whose one layer is ``mib`` MiB of random bytes (gzip cannot shrink it)."""
    tree = tmp_path / f"{name}-tree"
    tree.mkdir()
    with open(tree / "noise", "wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(1 << 20))
    pusher = Berth(tmp_path / "pusher", tmp_path / "pusher-run", berth.rootfs)
    pusher("import", str(tree), f"localhost/{name}:1", timeout=180)
    remote = f"{registry}/berth/{name}:1"
    pusher("push", "--tls-verify=false", f"localhost/{name}:1", remote, timeout=180)
    return remote


def ingest_files(root: Path) -> list[Path]:
    ingest = root / "images" / "ingest"
    return sorted(ingest.rglob("*")) if ingest.is_dir() else []


def ingest_data_size(root: Path) -> int:
    return sum(p.stat().st_size for p in ingest_files(root) if p.name == "data" and p.exists())


def assert_store_clean(berth: Berth) -> None:
    """No ingest left and ``berth image fsck`` finds nothing wrong."""
    assert [p for p in ingest_files(berth.root) if p.is_file()] == []
    fsck = berth("image", "fsck", check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_pull_killed_half_way_is_pruned_and_pulls_again(berth: Berth, registry: str, tmp_path: Path) -> None:
    remote = push_random_image(tmp_path, berth, registry, "noise", 128)
    pull = berth.popen(
        "pull", "--tls-verify=false", "-q", remote, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while ingest_data_size(berth.root) < (1 << 20):
            assert pull.poll() is None, f"pull ended before it could be killed: {pull.stderr.read()}"
            assert time.monotonic() < deadline, "the pull wrote nothing"
            time.sleep(0.005)
    finally:
        pull.send_signal(signal.SIGKILL)
        pull.wait(timeout=30)
        assert pull.stderr is not None
        pull.stderr.close()
    assert pull.returncode == -signal.SIGKILL
    # The killed pull left its half-written ingest, held by a lease whose owner is now gone.
    assert ingest_data_size(berth.root) > 0
    assert remote not in berth("images").stdout
    berth("system", "prune", "-f")
    assert_store_clean(berth)
    assert remote not in berth("images").stdout
    berth("pull", "--tls-verify=false", "-q", remote, timeout=180)
    berth("image", "inspect", remote)
    assert_store_clean(berth)


def pull_onto_full_disk(
    berth: Berth, registry: str, tmp_path: Path, disk_mib: int, layer_mib: int
) -> subprocess.CompletedProcess[str]:
    """Pull a ``layer_mib`` MiB layer into a root on a ``disk_mib`` MiB tmpfs that already holds a
    small image; check the pull failed and left the store as it was. Return the pull's outcome."""
    remote = push_random_image(tmp_path, berth, registry, "big", layer_mib)
    small = tmp_path / "small-tree"
    small.mkdir()
    (small / "hello").write_text("hello\n")
    mnt = tmp_path / "tmpfs-root"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={disk_mib}m", "tmpfs", str(mnt)], check=True)
    try:
        tight = Berth(mnt / "root", tmp_path / "tight-run", berth.rootfs)
        tight("import", str(small), "localhost/small:1")
        before = tight("image", "inspect", "localhost/small:1").stdout
        out = tight("pull", "--tls-verify=false", "-q", remote, check=False, timeout=180)
        assert out.returncode != 0 and "No space left on device" in out.stderr, out.stderr
        assert_store_clean(tight)
        assert "big" not in tight("images").stdout
        assert tight("image", "inspect", "localhost/small:1").stdout == before
        return out
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_pull_onto_a_full_disk_leaves_the_store_intact(berth: Berth, registry: str, tmp_path: Path) -> None:
    pull_onto_full_disk(berth, registry, tmp_path, 64, 80)


def test_pull_onto_a_full_disk_says_so_in_one_line(berth: Berth, registry: str, tmp_path: Path) -> None:
    out = pull_onto_full_disk(berth, registry, tmp_path, 16, 24)
    assert out.returncode == 125
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], out.stderr
