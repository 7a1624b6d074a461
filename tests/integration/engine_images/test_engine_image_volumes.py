"""Image ``Volumes`` and ``-v /path``: anonymous volumes made at create, removed with ``rm -v``/``--rm``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from berth.spec.image_config import ContainerConfig
from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.image_builder import store_busybox_image

pytestmark = pytest.mark.timeout(120)

IMAGE = "berth.test/volumes:1"
# /etc has content in the image (copied up into the volume); /data does not exist there.
CONFIG = ContainerConfig(
    env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin",), cmd=("sh",), volumes=("/etc", "/data/", "/covered")
)


@pytest.fixture
def imaged(berth: Berth) -> Iterator[Berth]:
    store_busybox_image(berth.root, berth.rootfs, IMAGE, CONFIG)
    yield berth


def _volumes(berth: Berth) -> list[str]:
    return sorted(berth("volume", "ls", "-q").stdout.split())


def _sources(berth: Berth, name: str) -> dict[str, str]:
    return {m["Destination"]: m["Source"] for m in berth.inspect(name)["Mounts"]}


def test_image_volumes_become_anonymous_volumes(imaged: Berth) -> None:
    imaged("create", "--name", "c", "--network", "none", "-v", "/anon", "--tmpfs", "/covered", IMAGE)
    volumes = _volumes(imaged)
    assert len(volumes) == 3  # /etc, /data, /anon; /covered is a tmpfs
    sources = _sources(imaged, "c")
    assert set(sources) >= {"/etc", "/data", "/anon"} and "/covered" not in sources
    assert all(sources[d].endswith("/_data") for d in ("/etc", "/data", "/anon"))
    # copy-up: the new /etc volume starts with the image's files
    imaged("start", "-a", "c")
    out = imaged("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "cat /etc/passwd | head -1; ls /data")
    assert out.stdout.startswith("root:")
    imaged("rm", "-v", "c")
    assert _volumes(imaged) == []


def test_rm_without_v_keeps_them_and_run_rm_removes_them(imaged: Berth) -> None:
    imaged("create", "--name", "keep", "--network", "none", "-v", "/anon", IMAGE)
    kept = _volumes(imaged)
    imaged("rm", "keep")
    assert _volumes(imaged) == kept and len(kept) == 4
    imaged("run", "--rm", "--network", "none", "-v", "/x", IMAGE, "sh", "-c", "touch /x/f /data/f")
    assert _volumes(imaged) == kept  # the run's own volumes went with it
    imaged("volume", "prune", "-f")
    assert _volumes(imaged) == []


def test_named_volume_and_bind_cover_image_volumes(imaged: Berth) -> None:
    imaged(
        "create", "--name", "n", "--network", "none", "-v", "mine:/etc", "-v", "/x:/data", IMAGE, check=False
    )
    # /x does not exist: refused, and nothing is left behind
    assert _volumes(imaged) == [] and imaged.inspect_missing("n")
    imaged("create", "--name", "n", "--network", "none", "-v", "mine:/etc", IMAGE)
    assert "mine" in _volumes(imaged) and len(_volumes(imaged)) == 3  # and anonymous /data, /covered
    doc = json.loads(imaged("volume", "inspect", "mine").stdout)
    assert doc[0]["UsedBy"] == ["n"]
    imaged("rm", "-v", "n")
    assert _volumes(imaged) == ["mine"]  # a named volume stays
    imaged("volume", "rm", "mine")


def test_a_run_that_cannot_start_leaves_no_volume(imaged: Berth) -> None:
    out = imaged("run", "--network", "none", "-v", "/anon", IMAGE, "no-such-command", check=False)
    assert out.returncode == 127
    assert _volumes(imaged) == [] and imaged("ps", "-aq").stdout == ""
