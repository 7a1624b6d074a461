"""containerd's runc shim (io.containerd.runc.v2) running berth-runtime as its binary, through ``ctr``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.busybox import make_rootfs
from tests.integration.runtime_cgroups.children import unique_name

RUNTIME = str(Path(sys.executable).parent / "berth-runtime")

pytestmark = [
    pytest.mark.root,
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("containerd") is None, reason="needs root and containerd"
    ),
]


class Ctr:
    def __init__(self, address: str, rootfs: Path) -> None:
        self.address = address
        self.rootfs = rootfs
        # The shim gives each container the cgroupsPath /<namespace>/<id>: a berth-test-* name,
        # which the leak check watches.
        self.namespace = unique_name()

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["ctr", "--address", self.address, "--namespace", self.namespace, *args],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def run(self, flag: str, cid: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # --rootfs: the first argument is a plain directory to use as the root, so no image or
        # snapshotter is involved.
        return self(
            "run", "--runc-binary", RUNTIME, flag, "--rootfs", str(self.rootfs), cid, *command, check=check
        )


@pytest.fixture(scope="module")
def ctr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctr]:
    """A containerd on a private root, state and socket, stopped (and its tasks removed) afterwards."""
    tmp = tmp_path_factory.mktemp("containerd")
    address = str(tmp / "containerd.sock")
    (tmp / "config.toml").write_text(
        "version = 2\n"
        f'root = "{tmp}/root"\nstate = "{tmp}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{address}"\n[ttrpc]\n  address = "{address}.ttrpc"\n'
    )
    log = open(tmp / "containerd.log", "w")  # noqa: SIM115  (closed after the daemon stops)
    daemon = subprocess.Popen(["containerd", "--config", str(tmp / "config.toml")], stdout=log, stderr=log)
    client = Ctr(address, make_rootfs(tmp / "rootfs"))
    try:
        deadline = time.monotonic() + 30
        while client("version", check=False).returncode != 0:
            assert daemon.poll() is None, (tmp / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.1)
        yield client
    finally:
        for task in client("task", "ls", "-q", check=False).stdout.split():
            client("task", "kill", "-s", "KILL", task, check=False)
            client("task", "rm", "-f", task, check=False)
        for container in client("containers", "ls", "-q", check=False).stdout.split():
            client("containers", "rm", container, check=False)
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()


def test_ctr_run_echo(ctr: Ctr) -> None:
    assert ctr.run("--rm", "echo1", "echo", "hi").stdout == "hi\n"


def test_ctr_run_exit_code(ctr: Ctr) -> None:
    assert ctr.run("--rm", "exit1", "sh", "-c", "exit 7", check=False).returncode == 7


def test_ctr_task_exec_pause_kill(ctr: Ctr) -> None:
    ctr.run("-d", "t1", "sleep", "100")
    try:
        assert ctr("task", "exec", "--exec-id", "e1", "t1", "sh", "-c", "echo exec-ok").stdout == "exec-ok\n"
        ctr("task", "pause", "t1")
        assert "PAUSED" in ctr("task", "ls").stdout
        ctr("task", "resume", "t1")
        ctr("task", "kill", "-s", "KILL", "t1")
        deadline = time.monotonic() + 20
        while "STOPPED" not in ctr("task", "ls").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        ctr("task", "rm", "-f", "t1", check=False)
        ctr("containers", "rm", "t1", check=False)
