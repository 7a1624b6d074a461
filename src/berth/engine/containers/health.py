"""Health checks (``--health-cmd`` and friends, ``berth healthcheck run``), as Docker and podman do them.

A check runs the configured command in the container (an ``exec``) with a timeout; exit code 0 is
a pass. The result goes to ``health.json`` beside the container's log: ``Status`` (``starting``
until the first pass, then ``healthy``, or ``unhealthy`` after ``retries`` failures in a row;
failures during the start period do not count), ``FailingStreak`` and the last five results,
which ``inspect`` shows as ``State.Health``. The container's monitor starts a check every
interval while the container runs (podman needs systemd timers for that).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from berth.engine.containers.logs import rfc3339_nano
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import ContainerRecord
from berth.engine.options import CreateOptions
from berth.errors import InvalidArgument
from berth.fsutil import atomic_write, locked
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
_KEPT_RESULTS = 5
_OUTPUT_LIMIT = 4096
#: Docker's defaults for a check whose flags and image say nothing: seconds, and failures in a row.
_INTERVAL_S, _TIMEOUT_S, _START_PERIOD_S, _RETRIES = 30.0, 30.0, 0.0, 3


@record(frozen=True)
class HealthSettings:
    """A container's effective health check: Docker's ``Test`` form and its timing (seconds)."""

    test: list[str]
    interval: float
    timeout: float
    start_period: float
    retries: int


def health_settings(container: ContainerRecord) -> HealthSettings | None:
    """The container's health check: the ``--health-*`` flags over the image's ``Healthcheck``
    (Docker's precedence, field by field); None without one, with ``--no-healthcheck`` or a
    ``["NONE"]`` test."""
    opts = CreateOptions.from_json(container.config["options"])
    image: dict[str, Any] = container.config.get("image_healthcheck") or {}
    test = opts.health_test or list(image.get("Test") or [])
    if opts.no_healthcheck or not test or test[0] == "NONE":
        return None

    def seconds(flag: float | None, key: str, default: float) -> float:
        # An image's durations are nanoseconds; 0 there means "the default".
        return flag if flag is not None else (image.get(key) or 0) / 1e9 or default

    return HealthSettings(
        test=test,
        interval=seconds(opts.health_interval, "Interval", _INTERVAL_S),
        timeout=seconds(opts.health_timeout, "Timeout", _TIMEOUT_S),
        start_period=seconds(opts.health_start_period, "StartPeriod", _START_PERIOD_S),
        retries=opts.health_retries if opts.health_retries is not None else image.get("Retries") or _RETRIES,
    )


def health_file(engine: Engine, cid: str) -> Path:
    """Where container ``cid``'s health state is kept."""
    return engine.paths(cid).userdata / "health.json"


def read_health(engine: Engine, container: ContainerRecord) -> dict[str, Any] | None:
    """``State.Health`` of the container; None when it has no health check."""
    if health_settings(container) is None:
        return None
    try:
        state: dict[str, Any] = json.loads(health_file(engine, container.id).read_text())
    except (OSError, ValueError):
        state = {"Status": STARTING, "FailingStreak": 0, "Log": []}
    return state


def run_health_check(engine: Engine, ref: str) -> bool:
    """Run the container's health check once, record the result; whether it passed."""
    import subprocess  # here, not above: ``ps`` and ``inspect`` read health without running checks

    from berth.engine.containers.execute import prepare_exec

    container = refresh(engine, engine.db.container(ref))
    settings = health_settings(container)
    if settings is None:
        raise InvalidArgument(f"container {container.name} has no health check")
    kind, *args = settings.test
    command = ["/bin/sh", "-c", args[0]] if kind == "CMD-SHELL" else args
    argv, process_file = prepare_exec(engine, container, command)
    started = time.time_ns()
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=settings.timeout or None
        )
        code, output = done.returncode, (done.stdout + done.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, output = -1, f"the health check did not end within {settings.timeout:g}s"
    finally:
        process_file.unlink(missing_ok=True)
    result = {"Start": rfc3339_nano(started), "End": rfc3339_nano(time.time_ns()), "ExitCode": code,
              "Output": output[-_OUTPUT_LIMIT:]}  # fmt: skip
    in_start_period = time.time() - (container.started_at or 0.0) < settings.start_period
    path = health_file(engine, container.id)
    with locked(path.with_suffix(".lock")):  # two checks at once (a manual one) must not lose one
        state = read_health(engine, container) or {}
        state["Log"] = [*state.get("Log", []), result][-_KEPT_RESULTS:]
        if code == 0:
            state["Status"], state["FailingStreak"] = HEALTHY, 0
        elif not in_start_period:
            state["FailingStreak"] = state.get("FailingStreak", 0) + 1
            if state["FailingStreak"] >= max(settings.retries, 1):
                state["Status"] = UNHEALTHY
        atomic_write(path, json.dumps(state).encode())
    container_event(engine.config, container, "health_status", health_status=state.get("Status", STARTING))
    return code == 0
