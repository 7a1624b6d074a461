"""Attached runs: stdin with -i, a terminal with -t (the runtime hands the pty over the console socket)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import termios
import time

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def test_interactive_stdin_reaches_the_container(berth: Berth) -> None:
    out = berth(
        "run",
        "-i",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        str(berth.rootfs),
        "sh",
        "-c",
        "cat; echo done",
        input="line1\nline2\n",
    )
    assert out.stdout == "line1\nline2\ndone\n"


def _in_terminal(berth: Berth, *args: str) -> tuple[int, int]:
    """``berth ARGS`` started on a new pseudo-terminal: its pid and the terminal's master side."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(berth.env)
        argv = berth.argv(*args)
        os.execv(argv[0], argv)
    return pid, fd


def _read_until(fd: int, needle: bytes, limit: float = 20.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while needle not in data:
        assert time.monotonic() < deadline, f"never saw {needle!r} in {data!r}"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data += os.read(fd, 4096)
            except OSError:
                break
    return data


def test_terminal_session(berth: Berth) -> None:
    pid, fd = _in_terminal(
        berth, "run", "-it", "--rm", "--network", "none", "--rootfs", str(berth.rootfs), "sh"
    )
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
        _read_until(fd, b"# ")
        os.write(fd, b"tty; echo term=$TERM; stty size\n")
        seen = _read_until(fd, b"40 132")
        assert b"/dev/pts/0" in seen and b"term=xterm" in seen
        os.write(fd, b"exit 3\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 3


def _read_to_end(fd: int) -> bytes:
    """Everything the terminal shows until its other side closes (EIO, or an empty read)."""
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_terminal_run_that_ends_at_once_reports_its_exit_code(berth: Berth) -> None:
    # The command sends its terminal's size as it attaches; the container is gone before the
    # monitor reads it, and the unread packet must not cost the command the exit code.
    for _ in range(5):
        rootfs = str(berth.rootfs)
        pid, fd = _in_terminal(
            berth, "run", "-t", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c", "exit 4"
        )
        try:
            output = _read_to_end(fd)
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        assert os.waitstatus_to_exitcode(status) == 4, output
    assert berth("ps", "-a", "-q").stdout == ""


def test_exec_with_a_terminal_and_detached(berth: Berth) -> None:
    berth.run("-d", "--name", "ttyhost", "--network", "none", "--", "sleep", "1000")
    pid, fd = _in_terminal(berth, "exec", "-it", "ttyhost", "sh")
    try:
        _read_until(fd, b"# ")
        os.write(fd, b"tty; exit 4\n")
        assert b"/dev/pts/" in _read_until(fd, b"/dev/pts/")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 4
    berth("exec", "-d", "ttyhost", "sh", "-c", "echo detached > /tmp/mark")
    deadline = time.monotonic() + 20
    while berth("exec", "ttyhost", "cat", "/tmp/mark", check=False).stdout != "detached\n":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    berth("rm", "-f", "ttyhost")


def test_attach_to_a_detached_container(berth: Berth) -> None:
    # The container waits for a line on stdin, so nothing is said before ``attach`` connects.
    berth.run(
        "-d", "-i", "--name", "echoer", "--network", "none", "--", "sh", "-c", 'read l; echo "got $l"; exit 3'
    )
    attached = berth("attach", "echoer", input="hello\n", check=False)
    assert (attached.returncode, attached.stdout) == (3, "got hello\n"), attached.stderr
    assert berth.inspect("echoer")["State"]["ExitCode"] == 3
    refused = berth("attach", "echoer", check=False)
    assert refused.returncode == 125 and "is not running" in refused.stderr
    assert refused.stderr.count("\n") == 1
