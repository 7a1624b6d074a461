"""``berth events``: every lifecycle action of real containers, images and volumes in the log, read
back with filters, times and formats, followed live, and none lost when many commands run at once."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.engine_cli.conftest import Berth, wait_for

pytestmark = pytest.mark.timeout(180)


def _events(berth: Berth, *flags: str) -> list[dict[str, object]]:
    out = berth("events", "--stream=false", "--format", "json", *flags).stdout
    return [json.loads(line) for line in out.splitlines()]


def _statuses(events: list[dict[str, object]], name: str) -> list[object]:
    return [e["Status"] for e in events if e.get("Name") == name]


def test_a_containers_life_in_events(berth: Berth) -> None:
    berth.run("--name", "short", "--network", "none", "--", "sh", "-c", "exit 3", check=False)
    berth("rm", "short")
    berth.run("-d", "--name", "long", "--network", "none", "--", "sleep", "100")
    berth("exec", "long", "true")
    berth("pause", "long")
    berth("unpause", "long")
    berth("rename", "long", "longer")
    berth("kill", "longer")
    berth("rm", "-f", "longer")
    berth("volume", "create", "vol1")
    berth("volume", "rm", "vol1")
    events = _events(berth)
    assert _statuses(events, "short") == ["create", "init", "start", "attach", "died", "cleanup", "remove"]
    died = next(e for e in events if e["Status"] == "died" and e["Name"] == "short")
    assert died["ContainerExitCode"] == 3 and died["Type"] == "container" and len(str(died["ID"])) == 64
    assert _statuses(events, "long") == ["create", "init", "start", "exec", "exec_died", "pause", "unpause"]
    assert _statuses(events, "longer") == ["rename", "kill", "died", "cleanup", "remove"]
    assert _statuses(events, "vol1") == ["create", "remove"]
    assert all(e["Type"] == "volume" for e in events if e.get("Name") == "vol1")


def test_filters_times_and_templates(berth: Berth) -> None:
    berth.run("--rm", "--name", "first", "--network", "none", "--", "true")
    middle = time.time()
    time.sleep(0.05)
    berth.run("--rm", "--name", "second", "--network", "none", "--label", "tier=web", "--", "true")
    assert {e["Name"] for e in _events(berth, "--since", str(middle))} == {"second"}
    assert {e["Name"] for e in _events(berth, "--until", str(middle))} == {"first"}
    assert {e["Name"] for e in _events(berth, "--filter", "label=tier=web")} == {"second"}
    assert [e["Status"] for e in _events(berth, "--filter", "event=died", "--filter", "container=first")] == [
        "died"
    ]
    out = berth(
        "events", "--stream=false", "--filter", "event=died", "--format", "{{.Name}} {{.ContainerExitCode}}"
    )
    assert out.stdout.splitlines() == ["first 0", "second 0"]
    text = berth("events", "--stream=false", "--filter", "event=create").stdout.splitlines()
    assert (
        text[0].endswith("(image=" + str(berth.rootfs) + ", name=first)")
        and " +0000 UTC container create " in text[0]
    )
    bad = berth("events", "--stream=false", "--since", "yesterday", check=False)
    assert bad.returncode == 125 and "invalid --since 'yesterday'" in bad.stderr
    bad = berth("events", "--stream=false", "--filter", "colour=red", check=False)
    assert bad.returncode == 125 and "invalid --filter" in bad.stderr


def test_events_stream_live(berth: Berth) -> None:
    follower = berth.popen("events", "--format", "{{.Status}} {{.Name}}", stdout=subprocess.PIPE)
    try:
        time.sleep(0.3)
        berth.run("--rm", "--name", "live", "--network", "none", "--", "true")
        lines: list[str] = []
        out = follower.stdout
        assert out is not None
        wait_for(lambda: lines.append(out.readline().strip()) is None and lines[-1] == "remove live",
                 "the follower to print the container's removal")  # fmt: skip
        assert lines == ["create live", "init live", "start live", "attach live", "died live", "cleanup live",
                         "remove live"]  # fmt: skip
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_no_event_is_lost_when_twenty_runs_race(berth: Berth) -> None:
    def run(i: int) -> None:
        berth.run("--rm", "--name", f"race{i}", "--network", "none", "--", "true", timeout=120)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(run, range(20)))
    events = _events(berth, "--filter", "type=container")
    for i in range(20):
        assert _statuses(events, f"race{i}") == [
            "create",
            "init",
            "start",
            "attach",
            "died",
            "cleanup",
            "remove",
        ]


def test_pod_actions_and_their_containers_in_events(berth: Berth) -> None:
    pod_id = berth("pod", "create", "--name", "evpod", "--network", "none").stdout.strip()
    berth("pod", "start", "evpod")
    berth("pod", "stop", "-t", "0", "evpod")
    berth("pod", "rm", "evpod")
    events = _events(berth)
    assert _statuses(events, "evpod") == ["create", "start", "stop", "remove"]
    assert {e["ID"] for e in events if e.get("Name") == "evpod"} == {pod_id}
    infra = [e for e in events if e["Type"] == "container"]
    assert infra and all(e["PodID"] == pod_id for e in infra)
    assert [e["Status"] for e in _events(berth, "--filter", "pod=evpod", "--filter", "type=pod")] == [
        "create", "start", "stop", "remove"]  # fmt: skip
