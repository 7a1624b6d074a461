"""A user's stop, kill or rm wins over the restart policy, whenever in the restart cycle it arrives.

The windows are reached with real timing: commands that exit at once keep a container cycling, and
a runtime wrapper (any runc-compatible executable is a runtime, ``--runtime PATH``) holds one
chosen runtime operation of the restart open while the test acts.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from berth.engine.engine import pid_alive
from tests.integration.engine_cli.conftest import Berth, wait_for

pytestmark = pytest.mark.timeout(300)

#: The user's operations under test, as ``berth`` arguments before the container's name.
_OPS = {"stop": ("stop", "-t", "2"), "kill": ("kill",), "rm": ("rm", "-f")}
#: Exits at once, and at once on SIGTERM too (a shell as pid 1 ignores an untrapped TERM).
_QUICK = ("sh", "-c", "trap 'exit 0' TERM; sleep 0.1")


def _processes_of(cid: str, name: str) -> list[str]:
    """Processes in the container's cgroups, and monitors (forked from ``berth run --name NAME``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cgroups = Path(f"/proc/{entry}/cgroup").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        monitor = b"--name" in argv and name.encode() in argv and pid_alive(int(entry))
        if f"berth-{cid}" in cgroups or monitor:
            found.append(f"{entry} {b' '.join(argv).decode(errors='replace')}")
    return found


def _leftovers(berth: Berth, cid: str) -> list[str]:
    """What a removed container must not leave: files, run directory, mounts, cgroups."""
    paths = [berth.root / "containers" / cid, berth.runroot / "containers" / cid]
    left = [str(p) for p in paths if p.exists()]
    left += [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cid in line]
    cgroups = Path("/sys/fs/cgroup")
    left += [str(d) for h in cgroups.iterdir() if (d := h / f"berth-{cid}").exists()]
    return left


def _check_stopped(berth: Berth, cid: str, name: str) -> int:
    """The container is exited, no restart is pending, nothing of it runs; its restart count."""
    doc = berth.inspect(name)
    state = doc["State"]
    assert (state["Status"], state["Restarting"], state["MonitorPid"]) == ("exited", False, 0), state
    assert _processes_of(cid, name) == []
    count: int = doc["RestartCount"]
    return count


def _check_removed(berth: Berth, cid: str, name: str) -> None:
    assert berth.inspect_missing(name)
    assert _processes_of(cid, name) == [] and _leftovers(berth, cid) == []


def _check_outcome(berth: Berth, op: str, cid: str, name: str) -> None:
    if op == "rm":
        _check_removed(berth, cid, name)
        return
    count = _check_stopped(berth, cid, name)
    time.sleep(0.1 * 2**count + 0.3)  # past the backoff the next restart would have waited
    assert _check_stopped(berth, cid, name) == count


@pytest.mark.parametrize("op", sorted(_OPS))
def test_a_users_stop_during_the_backoff_calls_the_restart_off(berth: Berth, op: str) -> None:
    cid = berth.run("-d", "--name", "w", "--network", "none", "--restart", "always", "--", "sh", "-c",
                    "exit 3").stdout.strip()  # fmt: skip

    seen: dict[str, Any] = {}

    def restarting() -> bool:
        seen.update(berth.inspect("w"))
        state = seen["State"]
        # From the fourth restart on the backoff is 1.6 s or more: time enough to act within it.
        # Restarting is also true while a monitor starts the next run (its own end is near then):
        # only an exit less than a second old means a monitor still waiting out its backoff.
        finished = datetime.fromisoformat(state["FinishedAt"][:26].rstrip("Z") + "+00:00").timestamp()
        return bool(state["Restarting"]) and seen["RestartCount"] >= 4 and time.time() - finished < 1.0

    wait_for(restarting, "a restart backoff")
    waiting = seen["State"]["MonitorPid"]  # read with Restarting, not by another inspect after it
    assert pid_alive(waiting)
    berth(*_OPS[op], "w")
    assert not pid_alive(waiting)  # the command returned after the waiting monitor had ended
    _check_outcome(berth, op, cid, "w")


# Prune decides on records read without the container's lock; by its removal the container may
# have restarted, exited and be waiting out its next backoff. The removal tells again under the lock.
_PRUNES_ONE = """
from berth.engine.config import load_config
from berth.engine.containers.remove import remove_container
from berth.engine.engine import Engine
from berth.errors import InvalidState
with Engine(load_config(None, None)) as engine:
    try:
        remove_container(engine, "w", spare_restarting=True)
    except InvalidState as err:
        print(err)
"""


def test_a_prune_told_of_a_restart_under_the_lock_spares_it(berth: Berth) -> None:
    cid = berth.run("-d", "--name", "w", "--network", "none", "--restart", "always", "--", "sh", "-c",
                    "exit 3").stdout.strip()  # fmt: skip
    wait_for(lambda: berth.inspect("w")["State"]["Restarting"], "a restart backoff")
    done = subprocess.run([sys.executable, "-c", _PRUNES_ONE], env=berth.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # refused: restarting, or running if the backoff ended in between (it never stays stopped)
    assert done.stdout.startswith(("container w is restarting", "container w is running"))
    assert berth.inspect("w")["Id"] == cid
    berth("rm", "-f", "w")


def test_prune_spares_a_container_waiting_out_its_backoff(berth: Berth) -> None:
    cid = berth.run("-d", "--name", "w", "--network", "none", "--restart", "always", "--", "sh", "-c",
                    "exit 3").stdout.strip()  # fmt: skip
    wait_for(lambda: berth.inspect("w")["State"]["Restarting"], "a restart backoff")
    berth("system", "prune", "-f")
    assert berth.inspect("w")["Id"] == cid  # not a stopped container: its restart is due
    wait_for(lambda: berth.inspect("w")["RestartCount"] >= 2, "the restart after the prune")
    berth("stop", "w")
    _check_outcome(berth, "stop", cid, "w")


def _slow_runtime(tmp_path: Path, verb: str, after: bool) -> tuple[Path, Path, Path]:
    """runc, but its next ``verb`` after the test creates the ``arm`` file creates ``reached`` and
    takes a second, before or after runc's own work. The script, arm and reached paths."""
    arm, reached, script = tmp_path / "arm", tmp_path / "reached", tmp_path / "slow-runc"
    hold = f"touch {reached}; sleep 1"
    held = f'runc "$@"; rc=$?; {hold}; exit $rc' if after else f'{hold}; exec runc "$@"'
    script.write_text(
        "#!/bin/sh\n"
        f'for arg; do [ "$arg" = {verb} ] && break; done\n'
        f'if [ "$arg" = {verb} ] && rm {arm} 2>/dev/null; then {held}; fi\n'
        'exec runc "$@"\n'
    )
    script.chmod(0o755)
    return script, arm, reached


#: Windows of the restart cycle a runtime operation can hold open: the monitor's teardown of the
#: ended run (the restart decision follows under the same lock), the restart's create, the
#: restart's start, and the moment right after the restarted container began. A container on a
#: bridge network is created and started in two runtime calls (CNI runs in between); one without a
#: network in one (``run --detach``). Each window: the verb held, after (not before) the runtime's
#: own work, and the network.
_WINDOWS = {
    "exiting": ("delete", False, "none"),
    "creating": ("create", False, "bridge"),
    "starting": ("start", False, "bridge"),
    "just started": ("start", True, "bridge"),
    "creating and starting at once": ("run", False, "none"),
    "just started at once": ("run", True, "none"),
}


@pytest.mark.parametrize("op", sorted(_OPS))
@pytest.mark.parametrize("window", list(_WINDOWS))
def test_a_users_stop_wins_in_every_window_of_a_restart(
    berth: Berth, tmp_path: Path, window: str, op: str
) -> None:
    verb, after, network = _WINDOWS[window]
    script, arm, reached = _slow_runtime(tmp_path, verb, after)
    network_flags = ["--network", "none"] if network == "none" else []
    cid = berth.run("-d", "--name", "w", *network_flags, "--restart", "always", "--runtime",
                    str(script), "--", *_QUICK).stdout.strip()  # fmt: skip
    arm.touch()  # the first run is started: the operation held is one of a restart
    wait_for(reached.exists, f"the restart to reach the {window} window")
    berth(*_OPS[op], "w")
    _check_outcome(berth, op, cid, "w")


def test_stress_stop_kill_rm_at_random_moments(berth: Berth) -> None:
    """200 user operations at random moments of cycling containers' restart cycles, five
    containers at a time; after each, the container is as the user asked and nothing of it runs."""
    seed = int(os.environ.get("BERTH_STRESS_SEED") or time.time_ns() % 2**32)
    print(f"stress seed {seed} (BERTH_STRESS_SEED={seed} repeats its choices)")
    ops_per_slot, slots = 40, 5
    done: Counter[str] = Counter()
    stopped: dict[str, tuple[str, int]] = {}  # name -> (id, restart count) of those left stopped
    failures: list[BaseException] = []
    lock = threading.Lock()

    def new_container(name: str, network: tuple[str, ...]) -> str:
        return berth.run("-d", "--name", name, *network, "--restart", "always", "--",
                         *_QUICK).stdout.strip()  # fmt: skip

    def slot(number: int) -> None:
        rng = random.Random(f"{seed}-{number}")
        # One slot's containers are on the default bridge: CNI set up and torn down every cycle.
        network = () if number == 0 else ("--network", "none")
        generation = 0
        name = f"s{number}-{generation}"
        cid = new_container(name, network)
        for _ in range(ops_per_slot):
            time.sleep(rng.uniform(0.0, 0.4))
            op = rng.choice(sorted(_OPS))
            berth(*_OPS[op], name)
            with lock:
                done[op] += 1
            if op == "rm":
                _check_removed(berth, cid, name)
            else:
                count = _check_stopped(berth, cid, name)
                if count < 3 and rng.random() < 0.7:
                    berth("start", name)  # the policy applies again; its backoff is still short
                    continue
                stopped[name] = (cid, count)  # left stopped, checked once more at the end
            generation += 1
            name = f"s{number}-{generation}"
            cid = new_container(name, network)
        berth("rm", "-f", name)

    def guarded(number: int) -> None:
        try:
            slot(number)
        except BaseException as err:
            failures.append(err)

    workers = [threading.Thread(target=guarded, args=(n,)) for n in range(slots)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, f"seed {seed}: {failures[0]!r}"
    assert sum(done.values()) == ops_per_slot * slots
    print(f"operations: {dict(done)}; containers left stopped: {len(stopped)}")
    longest = max((count for _, count in stopped.values()), default=0)
    time.sleep(min(0.1 * 2**longest, 5.0) + 0.3)  # past the backoff a restart would have waited
    for name, (cid, count) in stopped.items():
        assert _check_stopped(berth, cid, name) == count, f"seed {seed}: {name} restarted"
