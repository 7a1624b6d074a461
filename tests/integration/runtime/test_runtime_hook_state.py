"""config.md#posix-platform-hooks: each hook reads the state its step of runtime.md#lifecycle names,
every field in place, whatever the container's process did meanwhile.

Issue 10: a container process that exited before the runtime got to its poststart hooks made them
see status "stopped" and no pid. The test makes that order certain, with no timing: the
startContainer hook waits at a gate (a FIFO the test opens), so the test can take a second writer
of the exec FIFO while ``start`` reads it; ``start`` sees end-of-file, and goes on to the poststart
hooks, only when the test closes that writer, which it does once the process has exited.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.container import OCI_VERSION, process_start
from tests.integration.runtime.conftest import RUNTIME, Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
#: runtime.md#state: "created" after step 2 until the user-specified program runs (step 8), and
#: "running" after; the poststop hooks (step 13) follow the destroy.
STATUS = {
    "prestart": "created",
    "createRuntime": "created",
    "createContainer": "created",
    "startContainer": "created",
    "poststart": "running",
    "poststop": "stopped",
}
FIELDS = ("ociVersion", "id", "status", "pid", "bundle", "annotations")
ANNOTATIONS = {"org.example.hook-state": "kept"}
ROUNDS = 25
#: how the init comes to be: forked by the runtime into a new pid namespace or into the host's,
#: or by stage 1 (for a user namespace)
NAMESPACES = ("pid-namespace", "host-pids", "user-namespace")


def gated_config(runtime: Runtime, log: Path, namespaces: str) -> dict[str, Any]:
    """A container running ``true`` whose every hook saves its stdin as ``<log>/<kind>.json``
    (``/hooks`` inside) and whose startContainer hook then waits for ``<log>/gate`` to be opened
    and closed. ``namespaces``: one of ``NAMESPACES``."""
    config = base_config(runtime.rootfs, ["true"])
    config["annotations"] = ANNOTATIONS
    config["mounts"].append(
        {"destination": "/hooks", "type": "bind", "source": str(log), "options": ["bind"]}
    )
    linux = config["linux"]
    if namespaces == "host-pids":
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "pid"]
    elif namespaces == "user-namespace":  # the init is forked by stage 1, not by the runtime
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    hooks = {kind: f'cat > "{log}/{kind}.json"' for kind in KINDS}
    # It runs after the pivot, so its paths are the container's.
    hooks["startContainer"] = "cat > /hooks/startContainer.json; cat /hooks/gate"
    config["hooks"] = {
        kind: [{"path": "/bin/sh", "args": ["sh", "-c", script]}] for kind, script in hooks.items()
    }
    return config


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it returns something other than None or False, and return that."""
    deadline = time.monotonic() + 20
    while (value := condition()) is None or value is False:
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)
    return value


def fd_of(pid: int, path: Path) -> str | None:
    """``/proc/<pid>/fd/N`` of an fd process ``pid`` has open on ``path`` (unlinked or not), if any."""
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        if target in (str(path), f"{path} (deleted)"):
            return f"/proc/{pid}/fd/{name}"
    return None


def open_writer(path: Path) -> int | None:
    """Open FIFO ``path`` for writing if it has a reader (without one, ENXIO: None)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno != errno.ENXIO:
            raise
        return None


@contextmanager
def starting(runtime: Runtime, cid: str) -> Iterator[subprocess.Popen[str]]:
    """``start`` in the background, waited for after the block (killed if the block fails)."""
    start = subprocess.Popen(
        [RUNTIME, "--root", str(runtime.root), "start", cid], stderr=subprocess.PIPE, text=True
    )
    try:
        yield start
    except BaseException:
        start.kill()
        start.wait()
        raise
    _, err = start.communicate(timeout=20)
    assert start.returncode == 0, err


def start_once_the_process_exited(runtime: Runtime, cid: str, init_pid: int, log: Path) -> str:
    """Start container ``cid`` (its process ``init_pid``) so that the process has exited before
    ``start`` goes past its exec; return the container's status while the startContainer hook ran."""
    fifo = runtime.root / cid / "exec.fifo"
    with starting(runtime, cid) as start:
        # Once start reads the exec FIFO, hold a writer of our own: start sees end-of-file only
        # when the init's (closed at its exec) and ours are both gone.
        held = os.open(wait_for(lambda: fd_of(start.pid, fifo), "start to open the exec FIFO"), os.O_WRONLY)
        try:
            gate = wait_for(lambda: open_writer(log / "gate"), "the startContainer hook at its gate")
            status = runtime.state(cid)["status"]
            os.close(gate)  # the hook ends, the init execs `true`, which exits
            wait_for(lambda: process_start(init_pid) == 0, "the container's process to exit")
        finally:
            os.close(held)
    return str(status)


def read_states(log: Path) -> dict[str, dict[str, Any]]:
    """Each hook's stdin, cut to runtime.md#state's fields; the files are removed for the next round."""
    states = {}
    for kind in KINDS:
        path = log / f"{kind}.json"
        state = json.loads(path.read_text())
        path.unlink()
        states[kind] = {field: state.get(field) for field in FIELDS}
    return states


def expected_states(cid: str, bundle: Path, init_pid: int, namespaces: str) -> dict[str, dict[str, Any]]:
    """runtime.md#state for each hook: the pid as the runtime sees it, or as the container does for
    the hooks executed there (createContainer, startContainer); 0 once the container is stopped."""
    pids = {"createContainer": init_pid if namespaces == "host-pids" else 1, "poststop": 0}
    pids["startContainer"] = pids["createContainer"]
    values = {"ociVersion": OCI_VERSION, "id": cid, "bundle": str(bundle), "annotations": ANNOTATIONS}
    return {kind: {**values, "status": STATUS[kind], "pid": pids.get(kind, init_pid)} for kind in KINDS}


@pytest.mark.parametrize("namespaces", NAMESPACES)
def test_each_hook_reads_its_steps_state_though_the_process_exited_first(
    runtime: Runtime, tmp_path: Path, namespaces: str
) -> None:
    log = tmp_path / "log"
    log.mkdir()
    os.mkfifo(log / "gate")
    bundle = runtime.bundle(gated_config(runtime, log, namespaces))
    for round_ in range(ROUNDS):
        cid = f"c{round_}"
        with open(tmp_path / f"{cid}.out", "w") as out:  # the container keeps the runtime's stdio
            runtime("create", "--bundle", str(bundle), cid, stdout=out, stderr=out)
        init_pid = runtime.state(cid)["pid"]
        # runtime.md#state: not yet running while startContainer hooks run (before step 8).
        assert start_once_the_process_exited(runtime, cid, init_pid, log) == "created", f"round {round_}"
        after = runtime.state(cid)
        assert (after["status"], after["pid"]) == ("stopped", 0)
        runtime("delete", cid)
        assert read_states(log) == expected_states(cid, bundle, init_pid, namespaces), f"round {round_}"
