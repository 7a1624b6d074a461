"""Helpers for cgroup tests: a Python child that waits for a go-ahead before running its code."""

from __future__ import annotations

import subprocess
import sys
import uuid

from berth.runtime.linux.cgroups import CgroupManager


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
