"""A ``berth run`` killed with SIGKILL at any point: ``ps -a`` tells the truth, prune cleans up."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(180)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _truthful(berth: Berth) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(berth("ps", "-a", "--format", "json").stdout)
    for row in rows:
        pid = int(str(row["Pid"]))
        if row["State"] in ("running", "created"):  # created: the runtime's init waits for start
            assert pid > 0 and os.path.exists(f"/proc/{pid}"), row
        else:
            assert pid == 0, row
    return rows


def test_sigkill_while_running_then_stop_and_prune(berth: Berth) -> None:
    proc = berth.popen_run("--name", "victim", "-p", "127.0.0.1:18391:80", "--", "sleep", "1000")
    deadline = time.monotonic() + 30
    while not any(r["State"] == "running" for r in _truthful(berth)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [r["State"] for r in _truthful(berth)] == ["running"]  # the monitor keeps it going
    berth("kill", "victim")
    assert berth("wait", "victim").stdout == "137\n"
    assert [(r["State"], r["ExitCode"]) for r in _truthful(berth)] == [("exited", 137)]
    berth("system", "prune", "-f")
    assert berth("ps", "-a", "-q").stdout == ""


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
def test_sigkill_at_any_point_of_startup(berth: Berth, delay: float) -> None:
    proc = berth.popen_run("--name", "early", "--", "sleep", "1000")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _truthful(berth)
    berth("rm", "-f", "-a")
    berth("system", "prune", "-f")
    assert berth("ps", "-a", "-q").stdout == ""
    assert (
        list((berth.runroot / "containers").glob("*")) == []
        if (berth.runroot / "containers").exists()
        else True
    )


def test_monitor_killed_then_container_stopped(berth: Berth) -> None:
    berth.run("-d", "--name", "orphan", "--network", "none", "--", "sleep", "1000")
    monitor = int(berth.inspect("orphan")["State"]["MonitorPid"])
    os.kill(monitor, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _alive(monitor):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Without its monitor the container still runs, and ps says so.
    assert [r["State"] for r in _truthful(berth)] == ["running"]
    berth("stop", "-t", "1", "orphan")
    state = berth.inspect("orphan")["State"]
    assert state["Status"] == "exited" and state["Error"] == "monitor exited unexpectedly"
    _truthful(berth)
    berth("system", "prune", "-f")
    assert berth("ps", "-a", "-q").stdout == ""
