"""config.md#posix-platform-hooks: order, state on stdin, and runtime.md's failure semantics."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.runtime.conftest import RUNTIME, Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def recorder(directory: str, name: str, exit_code: int = 0) -> dict[str, Any]:
    """A hook that saves its stdin as <name>.json, appends its name to ``order``, and exits."""
    script = f'cat > "{directory}/{name}.json"; echo {name} >> "{directory}/order"; exit {exit_code}'
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def hooked_config(runtime: Runtime, log: Path, failing: str = "") -> dict[str, Any]:
    config = base_config(runtime.rootfs, ["sleep", "60"])
    config["mounts"].append(
        {"destination": "/hooks", "type": "bind", "source": str(log), "options": ["bind"]}
    )
    config["hooks"] = {
        kind: [
            recorder("/hooks" if kind == "startContainer" else str(log), kind, 1 if kind == failing else 0)
        ]
        for kind in (
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        )
    }
    return config


def order(log: Path) -> list[str]:
    path = log / "order"
    return path.read_text().split() if path.exists() else []


def test_hooks_run_in_lifecycle_order_with_state(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    runtime.create(hooked_config(runtime, log))
    assert order(log) == ["prestart", "createRuntime", "createContainer"]
    created = json.loads((log / "createRuntime.json").read_text())
    assert created["id"] == "c1" and created["status"] == "created"  # runtime.md#state: after step 2
    for kind in ("prestart", "createContainer"):
        assert json.loads((log / f"{kind}.json").read_text())["status"] == "created"
    assert created["pid"] == runtime.state("c1")["pid"]
    runtime("start", "c1")
    assert order(log)[3:] == ["startContainer", "poststart"]
    assert json.loads((log / "poststart.json").read_text())["status"] == "running"
    runtime("delete", "--force", "c1")
    assert order(log)[-1] == "poststop"
    assert json.loads((log / "poststop.json").read_text())["status"] == "stopped"


@pytest.mark.parametrize("failing", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_destroys_the_container_and_runs_poststop(
    runtime: Runtime, tmp_path: Path, failing: str
) -> None:
    log = tmp_path / "log"
    log.mkdir()
    _, status = runtime.create(hooked_config(runtime, log, failing), check=False)
    assert status != 0
    assert f"{failing} hook" in (tmp_path / "c1.out").read_text()
    assert order(log)[-1] == "poststop" and failing in order(log)
    assert not os.listdir(runtime.root)


def test_failing_start_container_hook_fails_start(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    runtime.create(hooked_config(runtime, log, "startContainer"))
    done = runtime("start", "c1", check=False)
    assert done.returncode != 0 and "startContainer hook" in done.stderr
    assert "poststart" not in order(log)
    assert runtime.state("c1")["status"] == "stopped"


def test_failing_poststart_hook_is_only_a_warning(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    runtime.create(hooked_config(runtime, log, "poststart"))
    done = runtime("start", "c1")
    assert "warning" in done.stderr and "poststart hook" in done.stderr
    assert runtime.state("c1")["status"] == "running"


def test_hook_timeout(runtime: Runtime, tmp_path: Path) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    _, status = runtime.create(config, check=False)
    assert status != 0 and "timed out after 1s" in (tmp_path / "c1.out").read_text()
    assert not os.listdir(runtime.root)


def test_hook_env_is_exactly_the_configured_one(runtime: Runtime, tmp_path: Path) -> None:
    config = base_config(runtime.rootfs, ["true"])
    out = tmp_path / "env"
    config["hooks"] = {
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"env > {out}"], "env": ["ONLY=1"]}]
    }
    assert runtime.run(config).returncode == 0
    assert "ONLY=1" in out.read_text().split() and "PATH" not in out.read_text()


@pytest.mark.timeout(30)
def test_a_poststart_hook_may_call_the_runtime_about_its_container(runtime: Runtime) -> None:
    # Poststart hooks run outside the container's lock: a hook that kills it does not deadlock.
    config = base_config(runtime.rootfs, ["sleep", "60"])
    kill = f"{RUNTIME} --root {runtime.root} kill c1 KILL"
    config["hooks"] = {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", kill], "timeout": 20}]}
    runtime.create(config)
    done = runtime("start", "c1", check=False)
    assert done.returncode == 0 and "timed out" not in done.stderr, done.stderr
    deadline = time.monotonic() + 10
    while runtime.state("c1")["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.state("c1")["status"] == "stopped"


def test_runtime_hooks_run_in_the_runtimes_pid_namespace(runtime: Runtime, tmp_path: Path) -> None:
    # Without a user namespace the runtime forks the init itself, unsharing the pid namespace for
    # that one child; the hooks it runs afterwards must still be in the host's pid namespace.
    log = tmp_path / "log"
    log.mkdir()
    config = base_config(runtime.rootfs, ["sleep", "60"])
    record = f'readlink /proc/self/ns/pid > "{log}/$0"'
    config["hooks"] = {
        kind: [{"path": "/bin/sh", "args": ["sh", "-c", record, kind]}]
        for kind in ("prestart", "createRuntime", "poststart", "poststop")
    }
    runtime.create(config)
    runtime("start", "c1")
    runtime("delete", "--force", "c1")
    host = os.readlink("/proc/self/ns/pid")
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert (log / kind).read_text().strip() == host, kind
