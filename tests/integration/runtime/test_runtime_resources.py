"""Cgroup limits that bite, pause/resume, update, events --stats, and seccomp denials."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.runtime.conftest import Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(90)]


def test_memory_limit_oom_kills(runtime: Runtime) -> None:
    # The shell grows a string until the limit stops it; no swap so the OOM killer acts.
    config = base_config(runtime.rootfs, ["sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done"])
    config["linux"]["resources"]["memory"] = {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024}
    done = runtime.run(config)
    assert done.returncode == 128 + 9, done.stderr


def test_pids_limit_stops_fork(runtime: Runtime) -> None:
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo all-forked"
    unlimited = runtime.run(base_config(runtime.rootfs, ["sh", "-c", script]))
    assert unlimited.returncode == 0 and unlimited.stdout == "all-forked\n"
    config = base_config(runtime.rootfs, ["sh", "-c", script])
    config["linux"]["resources"]["pids"] = {"limit": 4}
    limited = runtime.run(config, "c2")
    assert limited.returncode != 0 and "all-forked" not in limited.stdout
    assert "fork" in limited.stderr  # busybox sh: "can't fork: Resource temporarily unavailable"


def test_pause_resume_update_and_stats(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    runtime("pause", "c1")
    assert runtime.state("c1")["status"] == "paused"
    refused = runtime("pause", "c1", check=False)
    assert refused.returncode != 0 and "paused" in refused.stderr
    runtime("resume", "c1")
    assert runtime.state("c1")["status"] == "running"
    runtime("update", "--memory", str(64 * 1024 * 1024), "--pids-limit", "20", "c1")
    runtime("update", "--resources", "-", "c1", input=json.dumps({"pids": {"limit": 30}}))
    event = json.loads(runtime("events", "--stats", "c1").stdout)
    assert event["type"] == "stats" and event["id"] == "c1"
    assert event["data"]["pids"]["current"] == 1
    assert event["data"]["pids"]["limit"] == 30
    assert event["data"]["memory"]["usage"]["limit"] == 64 * 1024 * 1024


def test_delete_force_of_a_paused_container(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    runtime("pause", "c1")
    runtime("delete", "--force", "c1")
    assert runtime("list", "-q").stdout == ""


def test_kill_all_in_a_shared_pid_namespace(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "sleep 60 & sleep 60 & wait"])
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    runtime.create(config)
    runtime("start", "c1")
    deadline = time.monotonic() + 10
    while len(json.loads(runtime("ps", "--format", "json", "c1").stdout)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    runtime("kill", "--all", "c1", "KILL")
    while json.loads(runtime("ps", "--format", "json", "c1").stdout):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_seccomp_rule_denies(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"])
    config["root"]["readonly"] = False
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    for cid in ("c1", "c2"):  # the second run reads the program compiled by the first back
        done = runtime.run(config, cid)
        assert done.returncode == 0, done.stderr
        assert "Operation not permitted" in done.stdout and "rc=1" in done.stdout
    assert len(list((runtime.root / ".seccomp-cache").iterdir())) == 1
    assert runtime("list", "-q").stdout == ""
    # Not a container: a forced delete of that name (as a sweep over the root does) leaves it be.
    runtime("delete", "--force", ".seccomp-cache")
    assert len(list((runtime.root / ".seccomp-cache").iterdir())) == 1


def test_seccomp_without_no_new_privileges_for_an_unprivileged_user(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "grep Seccomp: /proc/self/status; id -u"])
    config["process"]["noNewPrivileges"] = False
    config["process"]["user"] = {"uid": 1000, "gid": 1000}
    rule = {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}
    done = runtime.run(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Seccomp:", "2", "1000"]


def test_kill_all_of_a_paused_container(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    runtime("pause", "c1")
    runtime("kill", "--all", "c1", "KILL")
    deadline = time.monotonic() + 10
    while runtime.state("c1")["status"] != "stopped":
        assert time.monotonic() < deadline, "a paused container survived kill --all KILL"
        time.sleep(0.02)
