"""An image's Docker ``Healthcheck`` becomes its containers' health check, unless flags say otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from berth.spec.image_config import ContainerConfig
from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_images.image_builder import store_busybox_image

pytestmark = pytest.mark.timeout(120)

CHECKED = ContainerConfig(
    cmd=("sleep", "60"),
    healthcheck={"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 200_000_000, "Retries": 1},
)


@pytest.fixture
def checked(berth: Berth) -> Iterator[Berth]:
    store_busybox_image(berth.root, berth.rootfs, "berth.test/checked:1", CHECKED)
    yield berth


def _health(berth: Berth, name: str) -> dict[str, Any] | None:
    health: dict[str, Any] | None = berth.inspect(name)["State"].get("Health")
    return health


def _wait_for_status(berth: Berth, name: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while (_health(berth, name) or {}).get("Status") != status:
        assert time.monotonic() < deadline, f"{name} never became {status}"
        time.sleep(0.05)


def test_the_images_check_runs(checked: Berth) -> None:
    checked("run", "-d", "--name", "c", "--network", "none", "berth.test/checked:1")
    _wait_for_status(checked, "c", "unhealthy")  # one failure is enough: Retries 1
    checked("exec", "c", "touch", "/tmp/ok")
    _wait_for_status(checked, "c", "healthy")
    checked("rm", "-f", "c")


def test_flags_override_or_disable_the_images_check(checked: Berth) -> None:
    checked("run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", "berth.test/checked:1")
    assert _health(checked, "off") is None
    checked(
        "run", "-d", "--name", "mine", "--network", "none", "--health-cmd", "true", "berth.test/checked:1"
    )
    _wait_for_status(checked, "mine", "healthy")  # the flag's command, the image's 0.2 s interval
    checked("rm", "-f", "off", "mine")
