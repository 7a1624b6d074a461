"""The engine drives every runc-compatible runtime through one interface: berth-runtime, runc, crun."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from berth.engine.runtime import resolve_runtime
from tests.integration.engine_cli.conftest import Berth, berth, busybox_root, host_network_unchanged

__all__ = ["berth", "busybox_root", "host_network_unchanged"]

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


def _usable(runtime: str) -> str | None:
    """Why ``runtime`` cannot run containers on this host, or None if it can."""
    try:
        path = resolve_runtime(runtime)
    except Exception as err:
        return str(err)
    if runtime == "crun":
        # crun 1.8 refuses hosts whose cgroup2 hierarchy is mounted beside v1 controllers.
        unified = subprocess.run(
            ["stat", "-fc", "%T", "/sys/fs/cgroup/unified"], capture_output=True, text=True
        )
        if unified.stdout.strip() == "cgroup2fs":
            return "crun does not support hybrid cgroup hosts"
    return None if shutil.which(path) else f"{path} is not executable"


@pytest.mark.parametrize("runtime", ["berth-runtime", "runc", "crun"])
def test_lifecycle_with_each_runtime(berth: Berth, runtime: str) -> None:
    reason = _usable(runtime)
    if reason:
        pytest.skip(reason)
    rt = ["--runtime", runtime]
    out = berth.run("--rm", *rt, "--network", "none", "--", "sh", "-c", "echo hello; exit 5", check=False)
    assert (out.returncode, out.stdout) == (5, "hello\n")
    berth.run(
        "-d",
        "--name",
        "svc",
        *rt,
        "--",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done",
    )
    while "up" not in berth("logs", "svc").stdout:
        time.sleep(0.05)
    assert berth.inspect("svc")["OCIRuntime"] == runtime
    assert berth("exec", "-e", "X=1", "svc", "sh", "-c", "echo $X").stdout == "1\n"
    berth("stop", "-t", "20", "svc")
    assert berth.inspect("svc")["State"]["ExitCode"] == 0
    berth("rm", "svc")
    oom = berth.run(
        "--rm",
        *rt,
        "--network",
        "none",
        "--memory",
        "16m",
        "--",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' x)",
        check=False,
    )
    assert oom.returncode == 137


@pytest.mark.parametrize("runtime", ["berth-runtime", "runc", "crun"])
def test_default_seccomp_profile_with_each_runtime(berth: Berth, runtime: str) -> None:
    # The profile is data each runtime compiles itself (libseccomp): the same verdicts everywhere.
    reason = _usable(runtime)
    if reason:
        pytest.skip(reason)
    rt = ["--runtime", runtime, "--network", "none"]
    script = "ls / >/dev/null && ps >/dev/null && unshare -U true 2>&1; echo rc=$?"
    refused = berth.run("--rm", *rt, "--", "sh", "-c", script).stdout
    assert refused == "unshare: unshare(0x10000000): Operation not permitted\nrc=1\n"
    allowed = berth.run("--rm", *rt, "--cap-add", "SYS_ADMIN", "--", "sh", "-c", script).stdout
    assert allowed == "rc=0\n"
