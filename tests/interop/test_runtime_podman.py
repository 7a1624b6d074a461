"""podman (with conmon) driving berth-runtime as its OCI runtime: run, -it, exec, stop, kill, limits."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.linux.cgroups.host import mounted_hierarchies
from tests.busybox import make_rootfs
from tests.integration.runtime_cgroups.children import unique_name

RUNTIME = str(Path(sys.executable).parent / "berth-runtime")
IMAGE = "localhost/berth-busybox:latest"

pytestmark = [
    pytest.mark.root,
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("podman") is None, reason="needs root and podman"),
]

# This machine's podman needs default_ulimits emptied (CAP_SYS_RESOURCE is missing), and
# berth-runtime has no systemd cgroup driver, so podman uses cgroupfs.
CONTAINERS_CONF = """[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class Podman:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "CONTAINERS_CONF": str(tmp / "containers.conf")}
        self.base = ["podman", "--root", str(tmp / "root"), "--runroot", str(tmp / "runroot"), "--tmpdir",
                     str(tmp / "tmpdir"), "--storage-driver", "vfs", "--runtime", RUNTIME]  # fmt: skip
        # Containers' cgroups go under a berth-test-* parent (podman's default, /libpod_parent, is
        # not a name the leak check watches); podman keeps the parent and its conmon group.
        self.cgroup_parent = "/" + unique_name()
        self.run_flags = ["--network", "none", "--cgroup-parent", self.cgroup_parent]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        # In the test's directory: conmon records an OOM kill as a file named "oom" in its cwd.
        done = subprocess.run(
            [*self.base, *args], env=self.env, cwd=self.tmp, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("run", *self.run_flags, *args, check=check)

    def remove_cgroup_parent(self) -> None:
        """Remove the cgroup parent (emptied once every container is gone) from each hierarchy."""
        for hierarchy in mounted_hierarchies():
            top = os.path.join(hierarchy.mountpoint, self.cgroup_parent.lstrip("/"))
            for cgroup, _dirs, _files in os.walk(top, topdown=False):
                os.rmdir(cgroup)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """A podman with private storage holding one local image imported from the busybox rootfs."""
    tmp = tmp_path_factory.mktemp("podman")
    (tmp / "containers.conf").write_text(CONTAINERS_CONF)
    rootfs = make_rootfs(tmp / "rootfs")
    with tarfile.open(tmp / "busybox.tar", "w") as tar:
        for entry in sorted(os.listdir(rootfs)):
            tar.add(rootfs / entry, arcname=entry)
    pm = Podman(tmp)
    pm("import", str(tmp / "busybox.tar"), IMAGE)
    pm.run("--rm", IMAGE, "true")  # makes the lasting cgroups (parent, conmon) before any test watches
    yield pm
    pm("rm", "--all", "--force", check=False)
    pm.remove_cgroup_parent()
    subprocess.run(["umount", "-R", str(tmp / "root")], capture_output=True, check=False)


def test_podman_run_echo(podman: Podman) -> None:
    done = podman.run("--rm", IMAGE, "echo", "hi")
    assert done.stdout == "hi\n"


def test_podman_run_exit_code(podman: Podman) -> None:
    assert podman.run("--rm", IMAGE, "sh", "-c", "exit 42", check=False).returncode == 42


def test_podman_run_interactive_tty(podman: Podman) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*podman.base, "run", *podman.run_flags, "-it", "--rm", IMAGE, "sh", "-c", "tty; echo done"],
        stdin=slave, stdout=slave, stderr=slave, env=podman.env,
    )  # fmt: skip
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 60
        while b"done" not in out and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"/dev/pts/0" in out and b"done" in out


def test_podman_exec_stop_and_kill(podman: Podman) -> None:
    podman.run("-d", "--name", "execme", IMAGE, "sleep", "100")
    try:
        done = podman("exec", "execme", "sh", "-c", "echo exec-ok; cat /proc/1/comm")
        assert done.stdout.split() == ["exec-ok", "sleep"]
        podman("stop", "-t", "1", "execme")  # sleep ignores TERM as pid 1: podman falls back to KILL
        assert podman("inspect", "--format", "{{.State.Status}}", "execme").stdout.strip() == "exited"
    finally:
        podman("rm", "--force", "execme", check=False)
    podman.run("-d", "--name", "killme", IMAGE, "sleep", "100")
    try:
        podman("kill", "killme")
        assert podman("wait", "killme").stdout.strip() == "137"
    finally:
        podman("rm", "--force", "killme", check=False)


def test_podman_memory_limit_oom_kills(podman: Podman) -> None:
    done = podman.run("--rm", "--memory", "32m", IMAGE, "sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done",
                      check=False)  # fmt: skip
    assert done.returncode == 137


def test_podman_pids_limit_stops_fork(podman: Podman) -> None:
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo all-forked"
    done = podman.run("--rm", "--pids-limit", "5", IMAGE, "sh", "-c", script, check=False)
    assert done.returncode != 0 and "all-forked" not in done.stdout and "can't fork" in done.stderr
