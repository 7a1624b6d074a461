"""Containers from images in the store: the image config becomes the container's process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.spec.image_config import ContainerConfig
from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.image_builder import store_busybox_image

pytestmark = pytest.mark.timeout(120)

IMAGE_CONFIG = ContainerConfig(
    env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=yes", "OVERRIDE=image"),
    entrypoint=("sh", "-c"),
    cmd=('echo "$FROM_IMAGE $OVERRIDE $(pwd) $(id -u):$(id -g) $(id -G)"',),
    working_dir="/tmp",
    user="berth",
    stop_signal="SIGUSR1",
)


@pytest.fixture
def imaged(berth: Berth) -> Iterator[Berth]:
    store_busybox_image(berth.root, berth.rootfs, "berth.test/busybox:1", IMAGE_CONFIG)
    yield berth


def _mounts_under(root: Path) -> list[str]:
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(root))
    ]


def test_image_config_becomes_the_process(imaged: Berth) -> None:
    out = imaged("run", "--rm", "--network", "none", "berth.test/busybox:1")
    # berth's groups from the image's /etc/group: its own (1000) and "extra" (2000).
    assert out.stdout == "yes image /tmp 1000:1000 1000 2000\n"


def test_flags_override_the_image(imaged: Berth) -> None:
    out = imaged(
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "OVERRIDE=flag",
        "-w",
        "/",
        "-u",
        "0:2000",
        "berth.test/busybox:1",
        'echo "$OVERRIDE $(pwd) $(id -u):$(id -g)"',
    )
    assert out.stdout == "flag / 0:2000\n"
    entry = imaged(
        "run", "--rm", "--network", "none", "--entrypoint", "echo", "berth.test/busybox:1", "plain"
    )
    assert entry.stdout == "plain\n"


def test_image_root_is_writable_and_private_and_removed(imaged: Berth) -> None:
    imaged(
        "run",
        "--name",
        "w",
        "-u",
        "0",
        "--network",
        "none",
        "berth.test/busybox:1",
        "echo changed > /etc/motd",
    )
    assert len(_mounts_under(imaged.root)) == 1  # the stopped container keeps its root
    imaged("start", "w")
    assert imaged("wait", "w").stdout == "0\n"
    fresh = imaged("run", "--rm", "--network", "none", "berth.test/busybox:1", "cat /etc/motd 2>&1 || true")
    assert "changed" not in fresh.stdout
    imaged("rm", "w")
    assert _mounts_under(imaged.root) == []
    assert imaged.inspect_missing("w")


def test_stop_signal_from_the_image(imaged: Berth) -> None:
    trap = "trap 'echo got USR1; exit 0' USR1; echo ready; while :; do sleep 0.1; done"
    imaged("run", "-d", "--name", "s", "--network", "none", "berth.test/busybox:1", trap)
    while "ready" not in imaged("logs", "s").stdout:
        pass
    imaged("stop", "s")
    assert "got USR1" in imaged("logs", "s").stdout
    assert imaged.inspect("s")["Config"]["StopSignal"] == "SIGUSR1"


def test_missing_image_is_one_clear_error(imaged: Berth) -> None:
    out = imaged("run", "--rm", "--pull", "never", "berth.test/absent:1", check=False)
    assert out.returncode == 125 and "pull it first" in out.stderr and len(out.stderr.splitlines()) == 1
    assert imaged("ps", "-a", "-q").stdout == ""


def test_a_removed_containers_root_is_volatile(imaged: Berth) -> None:
    """``run --rm`` gives the container a volatile overlay (as podman does): its changes go with it,
    so its unmount need not sync the filesystem under the storage. Other containers' do not."""
    show_root = "awk '$5 == \"/\" { print $NF }' /proc/self/mountinfo"  # the root's overlay options
    removed = imaged("run", "--rm", "--network", "none", "berth.test/busybox:1", show_root).stdout
    kept = imaged("run", "--network", "none", "berth.test/busybox:1", show_root).stdout
    assert {"volatile", "fsync=volatile"} & set(removed.strip().split(",")), removed
    assert not {"volatile", "fsync=volatile"} & set(kept.strip().split(",")), kept
