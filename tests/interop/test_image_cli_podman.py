"""``berth save``/``load`` against podman 4.3: podman loads Berth's archives, Berth loads podman's
(docker-archive and oci-archive), and the image ID (the config digest) survives each way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.busybox import make_rootfs

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


class Podman:
    """podman on a private vfs store (nothing mounted; the host's podman state untouched)."""

    def __init__(self, root: Path, runroot: Path, conf: Path) -> None:
        self.base = ["podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
        self.base += ["--events-backend", "file", "--cgroup-manager", "cgroupfs"]
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}"
        return done.stdout


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    # podman refuses a runroot longer than 50 characters; pytest's tmp_path is longer.
    runroot = Path(tempfile.mkdtemp(prefix="berth-podman-"))
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    try:
        yield Podman(tmp_path / "podman-root", runroot, conf)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def berth(root: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "berth.cli.main", "--root", str(root), "--runroot", str(root / "run")]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"berth {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def rootfs_tar(tmp_path: Path) -> Path:
    rootfs = make_rootfs(tmp_path / "rootfs")
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(rootfs, arcname=".")
    return tarball


def _berth_image(root: Path, name: str) -> dict[str, object]:
    (image,) = json.loads(berth(root, "image", "inspect", name))
    assert isinstance(image, dict)
    return image


def test_podman_loads_berth_archives(podman: Podman, rootfs_tar: Path, tmp_path: Path) -> None:
    root = tmp_path / "berth"
    berth(root, "import", str(rootfs_tar), "localhost/bb:1", "-c", 'CMD ["/bin/sh"]', "-c", "ENV A=1")
    ours = _berth_image(root, "localhost/bb:1")
    for fmt in ("docker-archive", "oci-archive"):
        archive = tmp_path / f"{fmt}.tar"
        berth(root, "save", "--format", fmt, "-o", str(archive), "localhost/bb:1")
        assert "localhost/bb:1" in podman("load", "-i", str(archive))
        (theirs,) = json.loads(podman("image", "inspect", "localhost/bb:1"))
        assert theirs["Id"] == ours["Id"]
        assert theirs["RootFS"]["Layers"] == ours["RootFS"]["Layers"]  # type: ignore[index]
        assert theirs["Config"]["Cmd"] == ["/bin/sh"] and "A=1" in theirs["Config"]["Env"]
        podman("rmi", "localhost/bb:1")


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_berth_loads_podman_archives(podman: Podman, rootfs_tar: Path, tmp_path: Path, fmt: str) -> None:
    podman("import", "--change", "WORKDIR /tmp", str(rootfs_tar), "localhost/pbb:2")
    (theirs,) = json.loads(podman("image", "inspect", "localhost/pbb:2"))
    archive = tmp_path / "podman.tar"
    podman("save", "--format", fmt, "-o", str(archive), "localhost/pbb:2")
    root = tmp_path / "berth"
    assert berth(root, "load", "-i", str(archive)) == "Loaded image: localhost/pbb:2\n"
    ours = _berth_image(root, "localhost/pbb:2")
    assert ours["Id"] == theirs["Id"]
    assert ours["RootFS"] == {"Type": "layers", "Layers": theirs["RootFS"]["Layers"]}
    assert ours["Config"]["WorkingDir"] == "/tmp"  # type: ignore[index]
    assert berth(root, "image", "fsck") == "image store is consistent\n"


def test_podman_loads_a_berth_multi_image_archive(podman: Podman, rootfs_tar: Path, tmp_path: Path) -> None:
    root = tmp_path / "berth"
    berth(root, "import", str(rootfs_tar), "localhost/one:1")
    berth(root, "import", str(rootfs_tar), "localhost/two:2", "-c", "USER 1000")
    archive = tmp_path / "multi.tar"
    berth(root, "save", "-m", "-o", str(archive), "localhost/one:1", "localhost/two:2")
    podman("load", "-i", str(archive))
    for name in ("localhost/one:1", "localhost/two:2"):
        (theirs,) = json.loads(podman("image", "inspect", name))
        assert theirs["Id"] == _berth_image(root, name)["Id"]


def test_short_names_of_images_made_here_match_podman(
    podman: Podman, rootfs_tar: Path, tmp_path: Path
) -> None:
    root = tmp_path / "berth"
    for tool in (podman, lambda *a: berth(root, *a)):
        tool("import", str(rootfs_tar), "mine:1")
        tool("tag", "mine:1", "a/b:4", "docker.io/foo:3", "quay.io/x/y")
    (theirs,) = json.loads(podman("image", "inspect", "mine:1"))
    (ours,) = json.loads(berth(root, "image", "inspect", "mine:1"))
    assert sorted(ours["RepoTags"]) == sorted(theirs["RepoTags"])
    assert "localhost/mine:1" in ours["RepoTags"] and "localhost/a/b:4" in ours["RepoTags"]
