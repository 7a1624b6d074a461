"""Berth's pause program and image, run for real: as a host process, as PID 1 of a PID namespace,
and as a container of the image Berth builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.config import load_config
from berth.engine.engine import Engine
from berth.engine.images.pause import PAUSE_IMAGE, ensure_pause_image, pause_executable
from tests.integration.engine_cli.conftest import Berth, wait_for

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 only"),
]


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "pause"
    path.write_bytes(pause_executable())
    path.chmod(0o755)
    return path


@pytest.fixture
def running(program: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([str(program)])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ends_with_status_zero_on_sigterm_and_sigint(running: subprocess.Popen[bytes], sig: int) -> None:
    wait_for(lambda: _state(running.pid) == "S", "the pause program to wait")
    running.send_signal(signal.SIGCHLD)  # reaps (nothing) and waits again
    time.sleep(0.1)
    assert running.poll() is None
    running.send_signal(sig)
    assert running.wait(timeout=10) == 0


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append((int(entry), fields[0]))
    return found


def test_reaps_orphans_as_pid_1(program: Path) -> None:
    """As PID 1 of a new PID namespace it inherits orphans and reaps each when it exits."""
    unshare = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", str(program)])
    try:
        wait_for(lambda: len(_children(unshare.pid)) == 1, "the pause program to start")
        pid1 = _children(unshare.pid)[0][0]
        # The shell exits at once: its background sleepers are re-parented to PID 1.
        subprocess.run(
            [
                "nsenter",
                "-t",
                str(pid1),
                "-p",
                "--",
                "/bin/busybox",
                "sh",
                "-c",
                "/bin/busybox sleep 0.2 & /bin/busybox sleep 0.3 & exit 0",
            ],
            check=True,
        )
        wait_for(lambda: len(_children(pid1)) == 2, "the orphans to reach PID 1")
        wait_for(lambda: _children(pid1) == [], "PID 1 to reap its orphans", limit=10)
        assert _state(pid1) == "S"
        os.kill(pid1, signal.SIGTERM)  # PID 1 blocks it, so it is delivered and ends it
        assert unshare.wait(timeout=10) == 0
    finally:
        if unshare.poll() is None:
            unshare.kill()  # --kill-child: the pause program gets SIGKILL too
            unshare.wait()


def test_image_is_built_once_and_its_container_stops_at_once(berth: Berth) -> None:
    with Engine(load_config(str(berth.root), str(berth.runroot))) as engine:
        assert ensure_pause_image(engine) == PAUSE_IMAGE
        assert ensure_pause_image(engine) == PAUSE_IMAGE  # found, not built again
    images = json.loads(berth("images", "--format", "json").stdout)
    assert [name for image in images for name in image["Names"]] == [PAUSE_IMAGE]
    berth("run", "-d", "--name", "infra", "--network", "none", PAUSE_IMAGE)
    started = time.monotonic()
    berth("stop", "-t", "30", "infra")  # SIGTERM ends it: the 30 s timeout never runs out
    assert time.monotonic() - started < 20
    assert berth.inspect("infra")["State"]["ExitCode"] == 0


def test_a_build_killed_midway_leaves_nothing_the_next_one_keeps(berth: Berth) -> None:
    # What a build killed midway leaves (a server SIGKILLed while its first pods start): its scratch
    # directory beside the store, half filled. The next build removes it and finishes.
    scratch = berth.root / "images" / "pause-build"
    (scratch / "half").mkdir(parents=True)
    (scratch / "half" / "file").write_bytes(b"x")
    with Engine(load_config(str(berth.root), str(berth.runroot))) as engine:
        assert ensure_pause_image(engine) == PAUSE_IMAGE
    assert not scratch.exists()
    images = json.loads(berth("images", "--format", "json").stdout)
    assert [name for image in images for name in image["Names"]] == [PAUSE_IMAGE]
