"""Container lifecycle through the ``berth`` command on the real kernel with runc."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_cli.conftest import Berth
from tests.integration.engine_cli.conftest import wait_for as _wait_for

pytestmark = pytest.mark.timeout(120)


def test_foreground_run_output_and_exit_code(berth: Berth) -> None:
    out = berth.run("--network", "none", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (out.returncode, out.stdout, out.stderr) == (3, "out\n", "err\n")
    rows = json.loads(berth("ps", "-a", "--format", "json").stdout)
    assert [(r["State"], r["ExitCode"]) for r in rows] == [("exited", 3)]


def test_rm_leaves_nothing_behind(berth: Berth) -> None:
    out = berth.run("--rm", "--network", "none", "--", "echo", "hello")
    assert out.stdout == "hello\n"
    assert berth("ps", "-a", "-q").stdout == ""
    assert list((berth.root / "containers").iterdir()) == []
    assert list((berth.runroot / "containers").iterdir()) == []


def test_exit_codes_for_missing_and_unrunnable_commands(berth: Berth) -> None:
    missing = berth.run("--rm", "--network", "none", "--", "/no/such/cmd", check=False)
    assert missing.returncode == 127 and len(missing.stderr.strip().splitlines()) == 1
    unrunnable = berth.run("--rm", "--network", "none", "--", "/etc/passwd", check=False)
    assert unrunnable.returncode == 126
    assert berth("ps", "-a", "-q").stdout == ""


def test_detached_logs_followed_across_commands(berth: Berth, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    script = (
        "echo first; while [ ! -e /gate/go ]; do sleep 0.05; done; echo second; printf partial; echo >&2 oops"
    )
    cid = berth.run(
        "-d", "--name", "talker", "--network", "none", "-v", f"{gate}:/gate", "--", "sh", "-c", script
    )
    cid = cid.stdout.strip()
    assert len(cid) == 64
    follower = berth.popen("logs", "-f", "talker", stdout=-1, stderr=-1)
    _wait_for(lambda: "first" in berth("logs", "talker").stdout, "the first line")
    (gate / "go").touch()
    out, err = follower.communicate(timeout=30)
    assert out == "first\nsecond\npartial" and err == "oops\n"
    assert berth("wait", "talker").stdout == "0\n"
    assert berth("logs", "--tail", "1", "talker").stdout == "partial"
    stamped = berth("logs", "-t", "talker").stdout.splitlines()
    assert stamped[0].endswith(" first") and stamped[0][:4].isdigit() and stamped[0][19] == "."


def test_logs_since_and_until(berth: Berth) -> None:
    berth.run("--name", "clock", "--network", "none", "--", "sh", "-c", "echo early; sleep 0.2; echo late")
    early, late = (line.split(" ", 1)[0] for line in berth("logs", "-t", "clock").stdout.splitlines())
    assert berth("logs", "--since", late, "clock").stdout == "late\n"
    assert berth("logs", "--until", early, "clock").stdout == "early\n"
    assert berth("logs", "--since", "1h", "--tail", "1", "clock").stdout == "late\n"
    assert berth("logs", "--since", "2000-01-01", "--until", "2000-01-02", "clock").stdout == ""
    bad = berth("logs", "--since", "yesterday", "clock", check=False)
    assert bad.returncode == 125 and bad.stderr.count("\n") == 1 and "'yesterday' is not a time" in bad.stderr


def test_log_size_limit(berth: Berth) -> None:
    count = 'i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done'
    cid = berth.run(
        "--name", "chatty", "--network", "none", "--log-opt", "max-size=8k", "-d", "--", "sh", "-c", count
    )
    assert berth("wait", "chatty").stdout == "0\n"
    log = berth.root / "containers" / cid.stdout.strip() / "ctr.log"
    assert 0 < log.stat().st_size <= 8192
    lines = berth("logs", "chatty").stdout.splitlines()
    assert lines[-1] == "line 1999" and "line 0" not in lines
    assert berth.inspect("chatty")["HostConfig"]["LogConfig"] == {"Type": "k8s-file", "Size": "8.19kB"}
    refused = berth.run("--log-opt", "max-size=1k", "--network", "none", "--", "true", check=False)
    assert refused.returncode == 125 and "at least 8192" in refused.stderr


def test_log_drivers(berth: Berth) -> None:
    berth.run("--name", "alias", "--log-driver", "json-file", "--network", "none", "--", "echo", "kept")
    assert berth("logs", "alias").stdout == "kept\n"  # json-file is the same log as k8s-file
    assert berth.inspect("alias")["HostConfig"]["LogConfig"]["Type"] == "json-file"
    quiet = berth.run("--name", "quiet", "--log-driver", "none", "--network", "none", "--", "echo", "shown")
    assert quiet.stdout == "shown\n"  # attached output does not need the log
    inspected = berth.inspect("quiet")
    assert inspected["HostConfig"]["LogConfig"]["Type"] == "none"
    assert not (berth.root / "containers" / inspected["Id"] / "ctr.log").exists()
    unread = berth("logs", "quiet", check=False)
    assert unread.returncode == 125 and "'none' log driver, cannot read logs" in unread.stderr
    for bad, said in (
        (["--log-driver", "syslog"], "unsupported --log-driver 'syslog'"),
        (["--log-driver", "none", "--log-opt", "max-size=1m"], "--log-opt needs a log"),
    ):
        refused = berth.run(*bad, "--network", "none", "--", "true", check=False)
        assert refused.returncode == 125 and refused.stderr.count("\n") == 1 and said in refused.stderr
    rows = json.loads(berth("ps", "-a", "--format", "json").stdout)
    assert sorted(r["Names"][0] for r in rows) == ["alias", "quiet"]  # the refused left nothing


def test_ps_filters(berth: Berth) -> None:
    berth.run("-d", "--name", "svc", "--network", "none", "-l", "tier=front", "--", "sleep", "60")
    berth.run(
        "--name", "batch", "--network", "none", "-l", "tier=batch", "--", "sh", "-c", "exit 4", check=False
    )

    def names(*flags: str) -> list[str]:
        rows = json.loads(berth("ps", "-a", "--format", "json", *flags).stdout)
        return sorted(row["Names"][0] for row in rows)

    assert names("--filter", "label=tier=front") == ["svc"]
    assert names("--filter", "status=exited") == ["batch"]
    assert names("-f", "exited=4", "-f", "label=tier") == ["batch"]
    assert names("--filter", "name=^(svc|batch)$", "--filter", "status=running") == ["svc"]
    # status and exited look at stopped containers without -a, as podman's do
    assert berth("ps", "-q", "--filter", "exited=4").stdout.strip() == berth.inspect("batch")["Id"][:12]
    bad = berth("ps", "--filter", "colour=red", check=False)
    assert bad.returncode == 125 and "invalid filter 'colour=red'" in bad.stderr
    berth("rm", "-f", "svc", "batch")


def test_health_checks(berth: Berth) -> None:
    berth.run("-d", "--name", "svc", "--network", "none", "--health-cmd", "test -e /tmp/ok && echo fine",
              "--health-interval", "0.2s", "--health-retries", "2", "--", "sleep", "60")  # fmt: skip

    def health() -> dict[str, Any]:
        state: dict[str, Any] = berth.inspect("svc")["State"]["Health"]
        return state

    _wait_for(lambda: health()["Status"] == "unhealthy", "two failed checks")
    assert health()["FailingStreak"] >= 2 and health()["Log"][-1]["ExitCode"] == 1
    manual = berth("healthcheck", "run", "svc", check=False)
    assert (manual.returncode, manual.stdout) == (1, "unhealthy\n")
    berth("exec", "svc", "touch", "/tmp/ok")
    _wait_for(lambda: health()["Status"] == "healthy", "a passing check")
    assert health()["FailingStreak"] == 0 and health()["Log"][-1]["Output"] == "fine\n"
    assert berth("healthcheck", "run", "svc").returncode == 0
    assert "(healthy)" in berth("ps").stdout
    berth("rm", "-f", "svc")
    berth.run("-d", "--name", "plain", "--network", "none", "--", "sleep", "60")
    assert "Health" not in berth.inspect("plain")["State"]
    none = berth("healthcheck", "run", "plain", check=False)
    assert none.returncode == 125 and "has no health check" in none.stderr
    berth("rm", "-f", "plain")


def test_restart_on_failure_stops_after_its_retries(berth: Berth) -> None:
    berth.run("-d", "--name", "flaky", "--network", "none", "--restart", "on-failure:2", "--", "sh", "-c",
              "echo run; exit 1")  # fmt: skip
    _wait_for(
        lambda: berth("logs", "flaky").stdout.count("run") == 3 and not _active(berth, "flaky"), "3 runs"
    )
    state = berth.inspect("flaky")
    assert state["RestartCount"] == 2 and state["State"]["ExitCode"] == 1
    assert state["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert berth("wait", "flaky").stdout == "1\n"
    assert berth("logs", "flaky").stdout.count("run") == 3  # no fourth run


def test_restart_always_until_a_user_stops_it(berth: Berth) -> None:
    berth.run("-d", "--name", "looper", "--network", "none", "--restart", "always", "--", "sh", "-c",
              "echo tick; sleep 0.2")  # fmt: skip
    _wait_for(lambda: berth.inspect("looper")["RestartCount"] >= 2, "two restarts")
    berth("stop", "-t", "1", "looper")
    stopped = berth.inspect("looper")
    assert stopped["State"]["Status"] == "exited"
    ticks = berth("logs", "looper").stdout.count("tick")
    time.sleep(1.0)  # longer than any backoff so far: a restart would have happened by now
    assert berth.inspect("looper")["RestartCount"] == stopped["RestartCount"]
    assert berth("logs", "looper").stdout.count("tick") == ticks
    berth("start", "looper")  # a user's start: the policy applies again
    _wait_for(
        lambda: berth.inspect("looper")["RestartCount"] > stopped["RestartCount"], "a restart after start"
    )
    berth("rm", "-f", "looper")


def test_a_reload_signal_is_not_a_users_stop(berth: Berth) -> None:
    # The init of a pid namespace ignores signals it has no handler for: this one ends on HUP.
    berth.run("-d", "--name", "hup", "--network", "none", "--restart", "always", "--", "sh", "-c",
              "trap 'exit 0' HUP; while :; do sleep 0.1; done")  # fmt: skip
    berth("kill", "-s", "HUP", "hup")  # it ends, but HUP asks a service to reload: no user's stop
    _wait_for(lambda: berth.inspect("hup")["RestartCount"] == 1 and _active(berth, "hup"), "the restart")
    berth("kill", "hup")  # SIGKILL: the user ends it, and it stays ended
    _wait_for(lambda: not _active(berth, "hup"), "the end")
    time.sleep(0.5)  # longer than the first backoff: a restart would have begun
    assert berth.inspect("hup")["RestartCount"] == 1 and not _active(berth, "hup")
    berth("rm", "hup")


def test_restart_policy_refusals(berth: Berth) -> None:
    for flags, message in ((["--rm", "--restart", "always"], "--restart and --rm conflict"),
                           (["--restart", "sometimes"], "invalid --restart 'sometimes'")):  # fmt: skip
        done = berth.run(*flags, "--network", "none", "--", "true", check=False)
        assert done.returncode == 125 and message in done.stderr and done.stderr.count("\n") == 1
    assert berth("ps", "-a", "-q").stdout == ""


def _active(berth: Berth, name: str) -> bool:
    return bool(berth.inspect(name)["IsActive"])


def test_exec_with_env_user_and_workdir(berth: Berth) -> None:
    berth.run("-d", "--name", "host1", "--network", "none", "--", "sleep", "1000")
    out = berth(
        "exec", "-e", "FOO=bar", "-u", "berth", "-w", "/tmp", "host1", "sh", "-c", "echo $FOO $(pwd) $(id -u)"
    )
    assert out.stdout == "bar /tmp 1000\n"
    assert berth("exec", "host1", "sh", "-c", "exit 7", check=False).returncode == 7
    assert berth("exec", "host1", "nosuchcmd", check=False).returncode == 127
    assert berth("exec", "-i", "host1", "cat", input="piped\n").stdout == "piped\n"
    assert berth("exec", "host1", "cat", input="not forwarded\n").stdout == ""
    top = berth("top", "host1").stdout
    assert "sleep 1000" in top
    berth("rm", "-f", "host1")


def test_stop_respects_the_grace_period(berth: Berth) -> None:
    trap = "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    berth.run("-d", "--name", "polite", "--network", "none", "--", "sh", "-c", trap)
    _wait_for(lambda: "ready" in berth("logs", "polite").stdout, "the trap")
    berth("stop", "-t", "30", "polite")
    state = berth.inspect("polite")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert "got TERM" in berth("logs", "polite").stdout
    # PID 1 ignores SIGTERM without a handler: after the grace period it is SIGKILLed.
    berth.run("-d", "--name", "stubborn", "--network", "none", "--", "sleep", "1000")
    berth("stop", "-t", "1", "stubborn")
    assert berth.inspect("stubborn")["State"]["ExitCode"] == 137


def test_kill_restart_and_start(berth: Berth) -> None:
    loop = "trap 'exit 143' TERM; echo up; while :; do sleep 0.1; done"
    berth.run("-d", "--name", "k", "--network", "none", "--", "sh", "-c", loop)
    _wait_for(lambda: "up" in berth("logs", "k").stdout, "the trap")
    berth("kill", "-s", "TERM", "k")
    assert berth("wait", "k").stdout == "143\n"
    berth("start", "k")
    assert berth.inspect("k")["State"]["Status"] == "running"
    berth("restart", "-t", "0", "k")
    assert berth.inspect("k")["State"]["Running"] is True
    removal = berth("rm", "k", check=False)
    assert removal.returncode == 125 and "stop the container before removing" in removal.stderr
    berth("rm", "-f", "k")
    assert berth("ps", "-a", "-q").stdout == ""


def test_memory_limit_oom_kill_is_reported(berth: Berth) -> None:
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived"
    out = berth.run(
        "--name", "hog", "--network", "none", "--memory", "16m", "--", "sh", "-c", hog, check=False
    )
    assert out.returncode == 137 and "survived" not in out.stdout
    assert berth("inspect", "-f", "{{.State.OOMKilled}}", "hog").stdout == "true\n"


def test_pids_limit(berth: Berth) -> None:
    forks = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done 2>&1; kill $(jobs -p) 2>/dev/null; echo done"
    out = berth.run("--rm", "--network", "none", "--pids-limit", "4", "--", "sh", "-c", forks, check=False)
    assert "can't fork" in out.stdout + out.stderr


def test_read_only_root(berth: Berth) -> None:
    script = "touch /etc/x 2>/dev/null && echo wrote-root; touch /tmp/x && echo wrote-tmp"
    out = berth.run("--rm", "--network", "none", "--read-only", "--", "sh", "-c", script)
    assert out.stdout == "wrote-tmp\n"


def test_cp_in_and_out(berth: Berth, tmp_path: Path) -> None:
    berth.run("-d", "--name", "box", "--network", "none", "--tmpfs", "/work", "--", "sleep", "1000")
    src = tmp_path / "in.txt"
    src.write_text("payload")
    berth("cp", str(src), "box:/work/")
    assert berth("exec", "box", "cat", "/work/in.txt").stdout == "payload"
    berth("exec", "box", "sh", "-c", "echo back > /work/out.txt")
    berth("cp", "box:/work/out.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "back\n"


def test_hostname_env_file_and_etc_files(berth: Berth, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=1\nBOTH=file\n")
    script = 'hostname; cat /etc/hostname; grep -c myhost /etc/hosts; echo "$FROM_FILE $BOTH"'
    out = berth.run(
        "--rm",
        "--hostname",
        "myhost",
        "--env-file",
        str(env_file),
        "-e",
        "BOTH=flag",
        "--",
        "sh",
        "-c",
        script,
    )
    assert out.stdout == "myhost\nmyhost\n1\n1 flag\n"


def test_cpu_quota_reaches_the_cgroup(berth: Berth) -> None:
    berth.run("-d", "--name", "cpu", "--network", "none", "--cpus", "0.5", "--", "sleep", "1000")
    cid = berth.inspect("cpu")["Id"]
    quota = Path(f"/sys/fs/cgroup/cpu/berth-{cid}/cpu.cfs_quota_us")
    if not quota.exists():
        quota = Path(f"/sys/fs/cgroup/berth-{cid}/cpu.max")
    assert quota.read_text().split()[0] == "50000"
    stats = json.loads(berth("stats", "--no-stream", "--format", "json", "cpu").stdout)[0]
    assert stats["pids"] == 1 and stats["mem_usage"] > 0
    berth("rm", "-f", "cpu")


def test_update_limits_of_a_running_container(berth: Berth) -> None:
    berth.run("-d", "--name", "upd", "--network", "none", "--memory", "32m", "--", "sleep", "1000")
    cid = berth.inspect("upd")["Id"]
    berth("update", "--memory", "64m", "--pids-limit", "50", "upd")
    memory = Path(f"/sys/fs/cgroup/memory/berth-{cid}/memory.limit_in_bytes")
    pids = Path(f"/sys/fs/cgroup/pids/berth-{cid}/pids.max")
    if memory.exists():
        assert memory.read_text().strip() == str(64 << 20) and pids.read_text().strip() == "50"
    config = json.loads((berth.root / "containers" / cid / "config.json").read_text())
    assert config["linux"]["resources"]["memory"]["limit"] == 64 << 20
    assert berth.inspect("upd")["HostConfig"]["Memory"] == 64 * 1024 * 1024
    bad = berth("update", "--memory", "tiny", "upd", check=False)
    assert bad.returncode == 125 and "invalid --memory" in bad.stderr
    first = str(min(os.sched_getaffinity(0)))
    berth("update", "--cpu-shares", "512", "--cpuset-cpus", first, "upd")
    cpu = config_of(berth, cid)["linux"]["resources"]["cpu"]
    assert (cpu["shares"], cpu["cpus"]) == (512, first)
    shares = Path(f"/sys/fs/cgroup/cpu/berth-{cid}/cpu.shares")
    if shares.exists():
        assert shares.read_text().strip() == "512"
        assert Path(f"/sys/fs/cgroup/cpuset/berth-{cid}/cpuset.cpus").read_text().strip() == first
    assert config_of(berth, cid)["linux"]["resources"]["memory"]["limit"] == 64 << 20  # kept
    bad = berth("update", "--cpuset-cpus", "all", "upd", check=False)
    assert bad.returncode == 125 and "invalid --cpuset-cpus 'all'" in bad.stderr
    berth("rm", "-f", "upd")


def config_of(berth: Berth, cid: str) -> dict[str, Any]:
    return dict(json.loads((berth.root / "containers" / cid / "config.json").read_text()))
