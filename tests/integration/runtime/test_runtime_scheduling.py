"""config.md#linux-process scheduler, ioPriority and execCPUAffinity, and config-linux.md#memory-policy,
read back from the host (or from /proc inside the container)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.runtime.conftest import Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def _io_priority(pid: int) -> str:
    return subprocess.run(
        ["busybox", "ionice", "-p", str(pid)], capture_output=True, text=True
    ).stdout.strip()


def test_scheduler_and_io_priority_reach_the_process_and_its_execs(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sleep", "60"])
    config["process"]["scheduler"] = {
        "policy": "SCHED_BATCH",
        "nice": 5,
        "flags": ["SCHED_FLAG_RESET_ON_FORK"],
    }
    config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    config["process"]["execCPUAffinity"] = {"final": "0"}
    runtime.create(config)
    runtime("start", "c1")
    pid = runtime.state("c1")["pid"]
    assert os.sched_getscheduler(pid) == os.SCHED_BATCH | os.SCHED_RESET_ON_FORK
    assert os.getpriority(os.PRIO_PROCESS, pid) == 5
    assert _io_priority(pid) == "best-effort: prio 3"
    assert os.sched_getaffinity(pid) == os.sched_getaffinity(0)  # execCPUAffinity is for execs only
    pid_file = runtime.tmp / "exec.pid"
    # The detached process keeps the runtime's stdio: a pipe there would stay open as long as it runs.
    runtime("exec", "--detach", "--pid-file", str(pid_file), "c1", "sleep", "60",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    exec_pid = int(pid_file.read_text())
    assert os.sched_getaffinity(exec_pid) == {0}
    assert os.sched_getscheduler(exec_pid) == os.SCHED_BATCH | os.SCHED_RESET_ON_FORK
    assert _io_priority(exec_pid) == "best-effort: prio 3"
    # Orphaned when ``exec`` exited, the process is now this (subreaper) test's child: reap it here,
    # or the container's init could not finish dying until the leak check does.
    os.kill(exec_pid, 9)
    os.waitpid(exec_pid, 0)


def test_a_scheduler_the_kernel_refuses_fails_create_and_leaves_nothing(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    # sched(7): SCHED_DEADLINE needs runtime <= deadline <= period.
    config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 2_000_000, "deadline": 1_000_000,
                                      "period": 3_000_000}  # fmt: skip
    out, status = runtime.create(config, check=False)
    assert status != 0
    assert "process.scheduler: SCHED_DEADLINE: sched_setattr: Invalid argument" in out.read_text()
    assert not runtime.root.exists() or os.listdir(runtime.root) == []


@pytest.mark.parametrize(
    ("policy", "shown"),
    [({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
     ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "interleave=static:0"),
     ({"mode": "MPOL_LOCAL"}, "local")],
)  # fmt: skip
def test_memory_policy_reaches_the_process(runtime: Runtime, policy: dict[str, object], shown: str) -> None:
    config = base_config(runtime.rootfs, ["head", "-1", "/proc/self/numa_maps"])
    config["linux"]["memoryPolicy"] = policy
    done = runtime.run(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == shown  # numa_maps(5): address, then the policy


def test_a_memory_policy_the_kernel_refuses_fails_with_one_line(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "63"}  # no such node here
    done = runtime.run(config)
    assert done.returncode != 0
    message = "linux.memoryPolicy: MPOL_BIND nodes 63: set_mempolicy: Invalid argument"
    assert done.stderr == f"berth-runtime: container init: {message}\n"
