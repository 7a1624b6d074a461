"""The console socket (pty master over SCM_RIGHTS) and ``exec`` into running containers."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import RUNTIME, Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def read_until(fd: int, needle: bytes, limit: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while needle not in data:
        assert time.monotonic() < deadline, f"never saw {needle!r} in {data!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the pty's other side closed
            break
        if not chunk:
            break
        data += chunk
    return data


def receive_master(server: socket.socket) -> int:
    conn, _ = server.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    assert len(fds) == 1
    return fds[0]


def test_console_socket_receives_the_pty_master(runtime: Runtime, tmp_path: Path) -> None:
    sock_path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(sock_path)
        server.listen(1)
        config = base_config(runtime.rootfs, ["sh", "-c", "tty; stty size; ls -l /dev/console; echo done"])
        config["process"]["terminal"] = True
        config["process"]["consoleSize"] = {"height": 33, "width": 101}
        runtime.create(config, "c1", "--console-socket", sock_path)
        master = receive_master(server)
    try:
        runtime("start", "c1")
        out = read_until(master, b"done").decode()
    finally:
        os.close(master)
    lines = out.replace("\r", "").splitlines()
    assert lines[0] == "/dev/pts/0"
    assert lines[1] == "33 101"
    assert lines[2].startswith("crw") and "136," in lines[2]


def test_run_with_a_terminal_proxies_the_pty(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "tty; read line; echo got-$line"])
    config["process"]["terminal"] = True
    bundle = runtime.bundle(config)
    argv = [RUNTIME, "--root", str(runtime.root), "run", "--bundle", str(bundle), "tty1"]
    code, out = _answer_on_a_terminal(argv, b"/dev/pts/0")
    assert code == 0 and b"got-hello" in out


def _answer_on_a_terminal(
    argv: list[str], prompt: bytes, size: tuple[int, int] | None = None
) -> tuple[int, bytes]:
    """Run ``argv`` on a pseudo-terminal (of ``size`` rows and columns), answer ``hello`` once it
    printed ``prompt``; its exit status and what it printed until ``got-hello``."""
    master, slave = os.openpty()
    if size is not None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        read_until(master, prompt)
        os.write(master, b"hello\r")
        out = read_until(master, b"got-hello")
        return proc.wait(timeout=20), out
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_terminal_without_console_socket_is_refused(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["process"]["terminal"] = True
    _, status = runtime.create(config, check=False)
    assert status != 0 and "--console-socket" in (runtime.tmp / "c1.out").read_text()
    assert not runtime.root.exists() or not os.listdir(runtime.root)


def test_exec_joins_the_container(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sleep", "60"])
    config["hostname"] = "inside"
    runtime.create(config)
    runtime("start", "c1")
    pid = runtime.state("c1")["pid"]
    done = runtime("exec", "--env", "EXTRA=1", "--cwd", "/tmp", "c1", "sh", "-c",
                   "hostname; pwd; echo $EXTRA; readlink /proc/self/ns/pid; cat /proc/1/comm")  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[:3] == ["inside", "/tmp", "1"]
    assert lines[3] == os.readlink(f"/proc/{pid}/ns/pid")
    assert lines[-1] == "sleep"
    status = runtime("exec", "c1", "sh", "-c", "exit 5", check=False)
    assert status.returncode == 5
    # The exec'd process moves itself into the container's cgroup (the host's view: /proc/<pid>).
    cgroups = runtime("exec", "c1", "sh", "-c", "cat /proc/$$/cgroup").stdout
    assert cgroups == Path(f"/proc/{pid}/cgroup").read_text()


def test_exec_user_caps_and_process_file(runtime: Runtime, tmp_path: Path) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    done = runtime("exec", "--user", "1000:1000", "--cap", "CAP_SYS_ADMIN", "c1", "sh", "-c",
                   "id -u; grep CapBnd /proc/self/status")  # fmt: skip
    uid, bnd = done.stdout.splitlines()
    assert uid == "1000"
    assert int(bnd.split()[1], 16) & (1 << 21)
    process = {"args": ["sh", "-c", "echo $FROM_FILE; id -g"], "cwd": "/", "env": ["FROM_FILE=yes"],
               "user": {"uid": 0, "gid": 2000}}  # fmt: skip
    (tmp_path / "process.json").write_text(json.dumps(process))
    out = runtime("exec", "--process", str(tmp_path / "process.json"), "c1").stdout
    assert out.split() == ["yes", "2000"]


def test_exec_detach_with_pid_file(runtime: Runtime, tmp_path: Path) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    pid_file = tmp_path / "exec.pid"
    runtime("exec", "--detach", "--pid-file", str(pid_file), "c1", "sleep", "60", stdout=None, stderr=None)
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    assert pid in json.loads(runtime("ps", "--format", "json", "c1").stdout)
    runtime("kill", "--all", "c1", "KILL")


def test_exec_errors(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    missing = runtime("exec", "c1", "no-such-binary", check=False)
    assert missing.returncode != 0 and "executable file not found" in missing.stderr
    runtime("kill", "c1", "KILL")
    deadline = time.monotonic() + 10
    while runtime.state("c1")["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stopped = runtime("exec", "c1", "true", check=False)
    assert stopped.returncode != 0 and "stopped" in stopped.stderr


def test_exec_with_a_tty(runtime: Runtime, tmp_path: Path) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    sock_path = str(tmp_path / "exec.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(sock_path)
        server.listen(1)
        proc = subprocess.Popen(
            [RUNTIME, "--root", str(runtime.root), "exec", "--tty", "--console-socket", sock_path, "c1",
             "sh", "-c", "tty; echo done"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        master = receive_master(server)
    try:
        proc.wait(timeout=10)  # closing the master first would hang up the session (SIGHUP)
        out = read_until(master, b"done").decode()
    finally:
        os.close(master)
    assert out.replace("\r", "").splitlines()[0].startswith("/dev/pts/")
    assert proc.returncode == 0


def test_exec_with_a_tty_in_the_foreground_relays_it(runtime: Runtime) -> None:
    """Without --console-socket the runtime keeps the pty's master and relays it to its own stdio
    (a terminal here, put in raw mode, whose size the container's follows), as runc does."""
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    script = "tty; stty size; read line; echo got-$line; exit 7"
    argv = [RUNTIME, "--root", str(runtime.root), "exec", "--tty", "c1", "sh", "-c", script]
    code, out = _answer_on_a_terminal(argv, b"33 111", (33, 111))
    assert code == 7
    assert out.count(b"hello") == 2  # the container's terminal echoed it, ours (raw) did not
