"""A ``berth run`` killed with SIGKILL at any point: ``ps -a`` tells the truth, prune cleans up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth, import_busybox

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


#: A create stopped between mounting a container's root and recording the container: the root is
#: made and marked as ``create_container`` does, then the process waits to be killed.
_HALF_CREATE = """
import sys, time
from berth.engine.config import load_config
from berth.engine.engine import Engine
from berth.engine.images.store import image_rootfs, root_being_made
with Engine(load_config(None, None)) as engine, root_being_made(engine.config, sys.argv[1]):
    image_rootfs(engine, "localhost/img:1", sys.argv[1])
    print("mounted", flush=True)
    time.sleep(600)
"""


def test_create_killed_before_its_record_leaves_a_root_that_prune_releases(
    berth: Berth, tmp_path: Path
) -> None:
    import_busybox(berth, tmp_path, {"localhost/img:1": 'CMD ["sh"]'})
    cid = "c0ffee" * 10 + "beef"
    rootfs = berth.root / "snapshots" / "active" / cid / "rootfs"
    maker = subprocess.Popen(
        [sys.executable, "-c", _HALF_CREATE, cid], env=berth.env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert maker.stdout is not None and maker.stdout.readline() == "mounted\n"
        # While its maker runs the root is spared: the create may yet record it.
        berth("pod", "prune")
        berth("system", "prune", "-f")
        assert rootfs.is_mount()
    finally:
        maker.kill()
        maker.wait()
    berth("pod", "prune")
    assert not rootfs.parent.exists()
    assert list((berth.root / "creating").iterdir()) == []
