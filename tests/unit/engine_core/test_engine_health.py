"""Which health check a container gets: the ``--health-*`` flags over its image's ``Healthcheck``."""

from __future__ import annotations

from typing import Any

import pytest

from berth.engine.containers.health import HealthSettings, health_settings
from berth.engine.metadata import ContainerRecord
from berth.engine.options import CreateOptions

IMAGE_CHECK = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000, "Retries": 5}


def _container(image_check: dict[str, Any] | None, **options: Any) -> ContainerRecord:
    config = {"options": CreateOptions(image="img", **options).to_json(), "image_healthcheck": image_check}
    return ContainerRecord(id="c" * 64, name="c", image="img", config=config, runtime="runc")


@pytest.mark.parametrize(
    ("image_check", "options", "expected"),
    [
        (None, {}, None),
        ({"Test": ["NONE"]}, {}, None),
        (IMAGE_CHECK, {"no_healthcheck": True}, None),
        (IMAGE_CHECK, {}, HealthSettings(["CMD-SHELL", "curl -f localhost"], 5.0, 30.0, 0.0, 5)),
        (IMAGE_CHECK, {"health_interval": 1.0, "health_retries": 2},
         HealthSettings(["CMD-SHELL", "curl -f localhost"], 1.0, 30.0, 0.0, 2)),
        (IMAGE_CHECK, {"health_test": ["CMD", "/bin/true"]},
         HealthSettings(["CMD", "/bin/true"], 5.0, 30.0, 0.0, 5)),
        (None, {"health_test": ["CMD-SHELL", "true"], "health_timeout": 2.0},
         HealthSettings(["CMD-SHELL", "true"], 30.0, 2.0, 0.0, 3)),
    ],
)  # fmt: skip
def test_flags_over_the_image(
    image_check: dict[str, Any] | None, options: dict[str, Any], expected: HealthSettings | None
) -> None:
    assert health_settings(_container(image_check, **options)) == expected
