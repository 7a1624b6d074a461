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
from typing import Any

from berth.engine.engine import Engine
from berth.engine.logs import rfc3339_nano
from berth.engine.metadata import ContainerRecord
from berth.engine.options import CreateOptions
from berth.engine.state import refresh
from berth.errors import InvalidArgument
from berth.fsutil import atomic_write, locked

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
_KEPT_RESULTS = 5
_OUTPUT_LIMIT = 4096


def health_file(engine: Engine, cid: str) -> Path:
    """Where container ``cid``'s health state is kept."""
    return engine.paths(cid).userdata / "health.json"


def read_health(engine: Engine, record: ContainerRecord) -> dict[str, Any] | None:
    """``State.Health`` of the container; None when it has no health check."""
    if not CreateOptions.from_json(record.config["options"]).health_test:
        return None
    try:
        state: dict[str, Any] = json.loads(health_file(engine, record.id).read_text())
    except (OSError, ValueError):
        state = {"Status": STARTING, "FailingStreak": 0, "Log": []}
    return state


def run_health_check(engine: Engine, ref: str) -> bool:
    """Run the container's health check once, record the result; whether it passed."""
    import subprocess  # here, not above: ``ps`` and ``inspect`` read health without running checks

    from berth.engine.execute import prepare_exec

    record = refresh(engine, engine.db.container(ref))
    opts = CreateOptions.from_json(record.config["options"])
    if not opts.health_test:
        raise InvalidArgument(f"container {record.name} has no health check")
    kind, *args = opts.health_test
    command = ["/bin/sh", "-c", args[0]] if kind == "CMD-SHELL" else args
    argv, process_file = prepare_exec(engine, record, command)
    started = time.time_ns()
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=opts.health_timeout or None
        )
        code, output = done.returncode, (done.stdout + done.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, output = -1, f"the health check did not end within {opts.health_timeout:g}s"
    finally:
        process_file.unlink(missing_ok=True)
    result = {"Start": rfc3339_nano(started), "End": rfc3339_nano(time.time_ns()), "ExitCode": code,
              "Output": output[-_OUTPUT_LIMIT:]}  # fmt: skip
    in_start_period = time.time() - (record.started_at or 0.0) < opts.health_start_period
    path = health_file(engine, record.id)
    with locked(path.with_suffix(".lock")):  # two checks at once (a manual one) must not lose one
        state = read_health(engine, record) or {}
        state["Log"] = [*state.get("Log", []), result][-_KEPT_RESULTS:]
        if code == 0:
            state["Status"], state["FailingStreak"] = HEALTHY, 0
        elif not in_start_period:
            state["FailingStreak"] = state.get("FailingStreak", 0) + 1
            if state["FailingStreak"] >= max(opts.health_retries, 1):
                state["Status"] = UNHEALTHY
        atomic_write(path, json.dumps(state).encode())
    return code == 0
