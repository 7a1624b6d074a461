"""Helpers for cgroup tests: a Python child that waits for a go-ahead before running its code."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import uuid

from berth.runtime.linux.cgroups import CgroupManager, load_manager

#: A child that prints a line every 10 ms, for freeze tests.
TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)\n"


def unique_name() -> str:
    """A cgroup name no other test (or concurrent helper) uses."""
    return f"berth-test-{uuid.uuid4().hex[:12]}"


def waiting_child(code: str) -> subprocess.Popen[str]:
    """Start ``code`` in a new Python process that first waits for a line on stdin (see ``go``)."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys\nsys.stdin.readline()\n" + code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def go(child: subprocess.Popen[str]) -> None:
    """Let a ``waiting_child`` run its code."""
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()


def stop(child: subprocess.Popen[str]) -> None:
    """Kill and reap a child (idempotent)."""
    if child.poll() is None:
        child.kill()
    child.communicate(timeout=30)


def run_in(manager: CgroupManager, code: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run ``code`` in a ``waiting_child`` moved into ``manager``'s cgroup before it starts; return
    its exit status, stdout and stderr."""
    child = waiting_child(code)
    try:
        manager.add_process(child.pid)
        go(child)
        out, err = child.communicate(timeout=timeout)
    finally:
        stop(child)
    return child.returncode, out, err


def drain(fd: int) -> bytes:
    """Everything ``fd`` has to read right now, without waiting."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def check_freeze_and_thaw(manager: CgroupManager, ticker: subprocess.Popen[str]) -> None:
    """Through a manager reloaded from saved state (as a later ``berth-runtime pause`` makes one),
    freeze a cgroup holding a running ``TICKER`` and check that it stops printing, then thaw it and
    check that it prints again."""
    assert ticker.stdout is not None
    fd = ticker.stdout.fileno()
    assert select.select([fd], [], [], 30)[0], "the child never ticked"
    paused = load_manager(manager.to_state())
    paused.freeze()
    assert paused.is_frozen() and manager.is_frozen(), "the cgroup does not read frozen"
    drain(fd)
    assert select.select([fd], [], [], 0.3)[0] == [], "a frozen process kept printing"
    paused.thaw()
    assert not manager.is_frozen(), "the cgroup still reads frozen"
    assert select.select([fd], [], [], 30)[0], "the thawed process did not resume"
