"""Lifecycle verbs against real containers: create, start, state, kill, delete, run, list, errors."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import RUNTIME, Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def wait_status(runtime: Runtime, cid: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while runtime.state(cid)["status"] != status:
        assert time.monotonic() < deadline, f"{cid} never became {status}"
        time.sleep(0.02)


def test_run_returns_the_exit_status_and_output(runtime: Runtime) -> None:
    done = runtime.run(base_config(runtime.rootfs, ["sh", "-c", "echo hello; exit 3"]))
    assert done.returncode == 3, done.stderr
    assert done.stdout == "hello\n"
    assert not os.listdir(runtime.root)  # run deletes the container after it exits


def test_run_reports_death_by_signal_as_128_plus_n(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "kill -9 $$"])
    # In its own pid namespace the init (pid 1) cannot be killed from inside; share the host's.
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    done = runtime.run(config)
    assert done.returncode == 128 + 9


def test_create_start_state_kill_delete(runtime: Runtime) -> None:
    pid_file = runtime.tmp / "pid"
    out, _ = runtime.create(base_config(runtime.rootfs, ["sh", "-c", "echo started; exec sleep 60"]), "c1",
                            "--pid-file", str(pid_file))  # fmt: skip
    state = runtime.state("c1")
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text())
    assert state["bundle"].startswith(str(runtime.tmp))
    assert out.read_text() == ""  # the process has not run yet
    runtime("start", "c1")
    assert runtime.state("c1")["status"] == "running"
    assert out.read_text() == "started\n"
    assert "c1" in runtime("list", "-q").stdout
    listed = json.loads(runtime("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["c1"]
    assert runtime("ps", "--format", "json", "c1").stdout.strip() == f"[{state['pid']}]"
    refused = runtime("delete", "c1", check=False)
    assert refused.returncode != 0 and "running" in refused.stderr
    runtime("kill", "c1", "SIGKILL")
    wait_status(runtime, "c1", "stopped")
    again = runtime("kill", "c1", "KILL", check=False)
    assert again.returncode != 0 and "stopped" in again.stderr
    runtime("delete", "c1")
    assert not os.listdir(runtime.root)
    gone = runtime("state", "c1", check=False)
    assert gone.returncode != 0 and "does not exist" in gone.stderr


def test_kill_by_number_and_default_term(runtime: Runtime) -> None:
    runtime.create(
        base_config(runtime.rootfs, ["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
    )
    runtime("start", "c1")
    runtime("kill", "c1")  # TERM
    wait_status(runtime, "c1", "stopped")
    runtime("delete", "c1")
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]), "c2")
    runtime("kill", "c2", "9")  # a created container can be killed too
    wait_status(runtime, "c2", "stopped")


def test_delete_force_kills_a_running_container(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    runtime("delete", "--force", "c1")
    assert not os.listdir(runtime.root)
    runtime("delete", "--force", "never-existed")  # runc: --force on a missing container succeeds


def test_delete_of_a_created_container_kills_its_init(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    pid = runtime.state("c1")["pid"]
    runtime("delete", "c1")
    assert (
        not Path(f"/proc/{pid}/cmdline").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    )


def test_kill_exec_and_delete_spare_a_process_that_took_the_containers_pid(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("kill", "c1", "KILL")
    wait_status(runtime, "c1", "stopped")
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        # As if the pid were recycled: state.json names a live process started at another time.
        state_file = runtime.root / "c1" / "state.json"
        state_file.write_text(json.dumps(json.loads(state_file.read_text()) | {"pid": stranger.pid}))
        assert runtime.state("c1")["status"] == "stopped"
        for verb in (["kill", "c1", "KILL"], ["exec", "c1", "true"]):
            refused = runtime(*verb, check=False)
            assert refused.returncode != 0 and "stopped" in refused.stderr, verb
        runtime("delete", "c1")
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_start_twice_is_an_error(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    second = runtime("start", "c1", check=False)
    assert second.returncode != 0 and "not created" in second.stderr


def test_a_config_without_process_is_created_but_cannot_start(runtime: Runtime) -> None:
    # runtime.md#start: "If the process was not set, this operation MUST generate an error."
    config = base_config(runtime.rootfs, ["true"])
    del config["process"]
    runtime.create(config)
    assert runtime.state("c1")["status"] == "created"
    done = runtime("start", "c1", check=False)
    assert done.returncode != 0 and "sets no process" in done.stderr
    assert runtime.state("c1")["status"] == "created"
    runtime("delete", "c1")


def test_verbs_on_one_container_wait_for_its_lock(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    lock = os.open(runtime.root / "c1" / "lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a verb in progress would
        kill = subprocess.Popen([RUNTIME, "--root", str(runtime.root), "kill", "c1", "KILL"])
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                kill.wait(timeout=0.5)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        assert kill.wait(timeout=30) == 0
    finally:
        os.close(lock)
    runtime("delete", "--force", "c1")


def test_concurrent_deletes_and_kills_of_one_container(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    base = [RUNTIME, "--root", str(runtime.root)]
    procs = [
        subprocess.Popen(base + args, stderr=subprocess.PIPE, text=True)
        for args in (["delete", "--force", "c1"], ["kill", "c1", "KILL"]) * 3
    ]
    results = [(p.wait(timeout=30), p.stderr.read() if p.stderr else "") for p in procs]
    for args, (status, err) in zip((["delete"], ["kill"]) * 3, results, strict=True):
        # A kill after a delete finds no container, one after another kill a stopped one; nothing
        # else may fail.
        assert status == 0 or (args == ["kill"] and ("does not exist" in err or "stopped" in err)), err
    assert runtime("list", "-q").stdout == ""


def test_duplicate_id_is_refused_and_the_first_container_survives(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    _, status = runtime.create(base_config(runtime.rootfs, ["sleep", "60"]), "c1", check=False)
    assert status != 0
    assert "already exists" in (runtime.tmp / "c1.out").read_text()
    assert runtime.state("c1")["status"] == "created"


@pytest.mark.parametrize("bad", ["a/b", "..", "."])
def test_invalid_ids_leave_nothing_behind(runtime: Runtime, bad: str) -> None:
    bundle = runtime.bundle(base_config(runtime.rootfs, ["true"]))
    done = runtime("create", "--bundle", str(bundle), bad, check=False)
    assert done.returncode != 0 and "invalid container id" in done.stderr
    assert not runtime.root.exists() or not os.listdir(runtime.root)


def test_missing_bundle_is_a_clear_error(runtime: Runtime) -> None:
    done = runtime("create", "--bundle", str(runtime.tmp / "nope"), "c1", check=False)
    assert done.returncode != 0
    assert "no config.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not runtime.root.exists() or not os.listdir(runtime.root)


def test_invalid_config_names_the_field(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["linux"]["namespaces"].append({"type": "bogus"})
    done = runtime("create", "--bundle", str(runtime.bundle(config)), "c1", check=False)
    assert done.returncode != 0 and "linux.namespaces[5].type" in done.stderr


def test_failed_create_rolls_back_everything(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    # The mounts succeed first, then a bind mount of a missing source fails half way.
    config["mounts"].append({"destination": "/data", "type": "bind", "source": "/nonexistent/x",
                             "options": ["rbind"]})  # fmt: skip
    _, status = runtime.create(config, check=False)
    assert status != 0
    assert "/nonexistent/x" in (runtime.tmp / "c1.out").read_text()
    assert not os.listdir(runtime.root)  # state gone; the leak check covers mounts, cgroups, processes


def test_missing_executable_fails_at_create(runtime: Runtime) -> None:
    _, status = runtime.create(base_config(runtime.rootfs, ["no-such-program"]), check=False)
    assert status != 0
    assert "executable file not found" in (runtime.tmp / "c1.out").read_text()
    assert not os.listdir(runtime.root)


def test_log_file_gets_json_errors(runtime: Runtime) -> None:
    log = runtime.tmp / "log.json"
    done = runtime("--log", str(log), "--log-format", "json", "state", "missing", check=False)
    assert done.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "missing" in entry["msg"]


def test_unsupported_features_say_so(runtime: Runtime) -> None:
    for args in (["--systemd-cgroup", "list"], ["checkpoint", "c1"], ["restore", "c1"]):
        done = runtime(*args, check=False)
        assert done.returncode != 0 and "not supported" in done.stderr


def test_spec_writes_a_config_the_runtime_accepts(runtime: Runtime) -> None:
    bundle = runtime.tmp / "specbundle"
    bundle.mkdir()
    runtime("spec", "--bundle", str(bundle))
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    config["root"]["path"] = str(runtime.rootfs)
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    assert runtime.run(config).returncode == 0
    again = runtime("spec", "--bundle", str(bundle), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_features_document(runtime: Runtime) -> None:
    doc = json.loads(runtime("features").stdout)
    assert "user" in doc["linux"]["namespaces"] and "poststop" in doc["hooks"]


def test_cgroup_failure_rolls_back(runtime: Runtime) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["linux"]["resources"]["cpu"] = {"cpus": "4096"}  # no such CPU: the kernel refuses it
    _, status = runtime.create(config, check=False)
    assert status != 0 and "cpu" in (runtime.tmp / "c1.out").read_text()
    assert not os.listdir(runtime.root)  # and the leak check finds no cgroup left


def test_ps_table_and_events_stream(runtime: Runtime) -> None:
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]))
    runtime("start", "c1")
    pid = runtime.state("c1")["pid"]
    table = runtime("ps", "c1").stdout.splitlines()
    assert "PID" in table[0].split() and any(str(pid) in line.split() for line in table[1:])
    stream = subprocess.Popen(
        [RUNTIME, "--root", str(runtime.root), "events", "--interval", "0.1s", "c1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert stream.stdout is not None
    first = json.loads(stream.stdout.readline())
    runtime("kill", "c1", "KILL")
    rest = stream.communicate(timeout=20)[0]
    assert first["type"] == "stats" and stream.returncode == 0
    assert all(json.loads(line)["id"] == "c1" for line in rest.splitlines())
