"""Pods: containers sharing an infra's network, IPC and UTS namespaces and a cgroup; the infra's
death; ``pod rm -f`` and ``pod prune`` leaving nothing; bad input; the CLI killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_cli.conftest import Berth, wait_for

IMAGE = "localhost/bb:1"


@pytest.fixture
def pods(berth: Berth) -> Iterator[Berth]:
    """``berth`` with the busybox root imported as an image; every pod removed afterwards."""
    berth("import", str(berth.rootfs), IMAGE)
    try:
        yield berth
    finally:
        berth("pod", "rm", "-a", "-f", check=False)


def _inspect_pod(berth: Berth, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(berth("pod", "inspect", name).stdout)
    return doc


def _pod_status(berth: Berth, name: str) -> str:
    return str(_inspect_pod(berth, name)["State"])


def _run_in_pod(berth: Berth, pod: str, *command: str) -> str:
    return berth("run", "--rm", "--pod", pod, IMAGE, *command).stdout


def _cgroup_dirs(cgroup_path: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    rel = cgroup_path.lstrip("/")
    return [d for d in (base / rel, *(h / rel for h in base.iterdir() if h.is_dir())) if d.is_dir()]


def _leftovers(berth: Berth, cgroup_paths: list[str]) -> dict[str, Any]:
    """What removed pods must not leave: containers, their cgroups, run directories (with the pinned
    network namespaces), CNI addresses."""
    ipam = berth.root / "cni" / "networks"
    return {
        "containers": berth("ps", "-a", "-q").stdout.split(),
        "pods": berth("pod", "ps", "-q").stdout.split(),
        "cgroups": [d for path in cgroup_paths for d in _cgroup_dirs(path)],
        "rundirs": sorted(p.name for p in (berth.runroot / "containers").glob("*")),
        "addresses": sorted(
            p.name for p in ipam.glob("*/*") if p.name[0].isdigit()
        ),  # host-local: one file per address
    }


NOTHING = {"containers": [], "pods": [], "cgroups": [], "rundirs": [], "addresses": []}


def test_pod_containers_share_localhost_hostname_and_ipc(pods: Berth) -> None:
    pods(
        "pod", "create", "--name", "web", "--label", "tier=front", "--annotation", "linkerd.io/inject=enabled"
    )
    pods("run", "-d", "--pod", "web", "--name", "app", IMAGE, "httpd", "-f", "-p", "8080", "-h", "/etc")
    # The sidecar reaches the app over localhost: one network namespace.
    assert _run_in_pod(pods, "web", "wget", "-qO-", "http://localhost:8080/hostname") == "web\n"
    # One UTS namespace (the pod's name is its hostname) and one IPC namespace.
    namespaces = "readlink /proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/net; hostname"
    first = _run_in_pod(pods, "web", "sh", "-c", namespaces)
    second = pods("exec", "app", "sh", "-c", namespaces).stdout
    assert first == second and first.endswith("web\n")
    alone = pods.run("--", "sh", "-c", namespaces).stdout
    assert alone.splitlines()[0] != first.splitlines()[0]
    doc = _inspect_pod(pods, "web")
    assert doc["State"] == "Running" and doc["NumContainers"] == 2
    assert doc["Annotations"] == {"linkerd.io/inject": "enabled"} and doc["Labels"] == {"tier": "front"}
    assert doc["SharedNamespaces"] == ["ipc", "net", "uts"]
    rows = json.loads(pods("ps", "--format", "json", "--filter", "pod=web").stdout)
    assert [(r["Names"], r["PodName"]) for r in rows] == [
        (["app"], "web"),
        ([doc["Containers"][0]["Name"]], "web"),
    ]
    assert "PODNAME" in pods("ps", "--pod").stdout.splitlines()[0]


def test_pod_limits_are_written_to_the_pod_cgroup(pods: Berth) -> None:
    pods("pod", "create", "--name", "limited", "--cpus", "0.5", "--memory", "64m")
    pods("pod", "start", "limited")
    path = _inspect_pod(pods, "limited")["CgroupPath"]
    found = {}
    for directory in _cgroup_dirs(path):
        for name in ("cpu.cfs_quota_us", "cpu.max", "memory.limit_in_bytes", "memory.max"):
            if (directory / name).exists():
                found[name] = (directory / name).read_text().split()
    assert found.get("cpu.cfs_quota_us") == ["50000"] or found.get("cpu.max") == ["50000", "100000"]
    assert ["67108864"] in (found.get("memory.limit_in_bytes"), found.get("memory.max"))
    infra = _inspect_pod(pods, "limited")["InfraContainerID"]
    assert any((d / f"berth-{infra}").is_dir() for d in _cgroup_dirs(path))  # the infra sits inside


def test_sigkill_of_the_infra_stops_the_pod_and_a_restart_policy_starts_it_again(pods: Berth) -> None:
    pods("pod", "create", "--name", "fragile")
    pods("run", "-d", "--pod", "fragile", "--name", "plain", IMAGE, "sleep", "1000")
    pods("run", "-d", "--pod", "fragile", "--name", "phoenix", "--restart", "always", IMAGE, "sleep", "1000")
    infra = _inspect_pod(pods, "fragile")["InfraContainerID"]
    first_pid = pods.inspect(infra)["State"]["Pid"]
    os.kill(first_pid, signal.SIGKILL)
    wait_for(lambda: pods.inspect("plain")["State"]["Status"] == "exited", "the pod's container to be killed")
    assert pods.inspect("plain")["State"]["ExitCode"] == 137
    # The container whose policy says always is started again, and its start starts the infra.
    wait_for(lambda: pods.inspect("phoenix")["RestartCount"] >= 1, "the restart")
    wait_for(lambda: pods.inspect(infra)["State"]["Status"] == "running", "the infra to run again")
    assert pods.inspect(infra)["State"]["Pid"] != first_pid
    wait_for(lambda: _pod_status(pods, "fragile") == "Degraded", "the pod to be degraded")  # plain stays down
    pods("pod", "stop", "-t", "0", "fragile")
    assert _pod_status(pods, "fragile") == "Exited"


def test_pod_rm_force_leaves_nothing(pods: Berth) -> None:
    pods("pod", "create", "--name", "doomed", "-p", "127.0.0.1:18731:8080")
    pods("run", "-d", "--pod", "doomed", IMAGE, "httpd", "-f", "-p", "8080")
    path = _inspect_pod(pods, "doomed")["CgroupPath"]
    assert _cgroup_dirs(path)
    out = pods("pod", "rm", "doomed", check=False)
    assert out.returncode == 125 and "stop it first or use --force" in out.stderr
    pods("pod", "rm", "-f", "doomed")
    assert _leftovers(pods, [path]) == NOTHING


def test_the_infra_goes_only_with_its_pod(pods: Berth) -> None:
    pods("pod", "create", "--name", "held", "--infra-name", "held-infra")
    pods("create", "--pod", "held", "--name", "member", IMAGE, "true")
    out = pods("rm", "held-infra", check=False)
    assert out.returncode == 125 and "remove the pod instead" in out.stderr
    pods("rm", "member")
    pods("rm", "held-infra")  # alone in its pod now, as podman allows
    assert _pod_status(pods, "held") == "Created"


def test_init_containers_run_to_completion_first(pods: Berth, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    pods("pod", "create", "--name", "ordered")
    volume = f"{shared}:/shared"
    pods(
        "create",
        "--pod",
        "ordered",
        "--name",
        "main",
        "-v",
        volume,
        IMAGE,
        "sh",
        "-c",
        "cat /shared/log; sleep 1000",
    )
    pods(
        "create",
        "--pod",
        "ordered",
        "--init-ctr",
        "once",
        "-v",
        volume,
        IMAGE,
        "sh",
        "-c",
        "echo once >> /shared/log",
    )
    pods(
        "create",
        "--pod",
        "ordered",
        "--init-ctr",
        "always",
        "-v",
        volume,
        IMAGE,
        "sh",
        "-c",
        "echo always >> /shared/log",
    )
    pods("pod", "start", "ordered")
    assert (shared / "log").read_text() == "once\nalways\n"
    assert len(_inspect_pod(pods, "ordered")["Containers"]) == 3  # the "once" one is gone
    wait_for(lambda: "once" in pods("logs", "main").stdout, "the main container's output")
    pods("create", "--pod", "ordered", "--init-ctr", "always", IMAGE, "false")
    pods("pod", "stop", "-t", "0", "ordered")
    out = pods("pod", "start", "ordered", check=False)
    assert out.returncode == 125 and "exited with code 1" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pod", "create", "--name", "taken"], "pod name 'taken' is already in use"),
        (["pod", "create", "-p", "80"], "invalid -p '80'"),
        (["pod", "create", "-p", "127.0.0.1:18732:80"], "port 18732/tcp is already in use on the host"),
        (["pod", "create", "--network", "nosuchnet"], "no such network: nosuchnet"),
        (["pod", "create", "--share", "mnt"], "invalid --share 'mnt'"),
        (["pod", "create", "--memory", "1k"], "invalid --memory '1k'"),
        (["pod", "create", "--infra=false", "-p", "18733:80"], "-p needs an infra container"),
        (["run", "--pod", "taken", "--network", "none", IMAGE, "true"], "--pod and --network conflict"),
        (["run", "--pod", "taken", "-p", "18734:80", IMAGE, "true"], "--pod and -p conflict"),
        (["run", "--pod", "nosuchpod", IMAGE, "true"], "no such pod: nosuchpod"),
        (["pod", "start", "nosuchpod"], "no such pod: nosuchpod"),
    ],
)
def test_bad_input_is_one_line_exit_125_and_creates_nothing(
    pods: Berth, args: list[str], message: str
) -> None:
    pods("pod", "create", "--name", "taken")
    before = (pods("pod", "ps", "-q").stdout, pods("ps", "-a", "-q").stdout)
    with socket_bound(18732):
        out = pods(*args, check=False)
    assert out.returncode == 125, out
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert (pods("pod", "ps", "-q").stdout, pods("ps", "-a", "-q").stdout) == before


class socket_bound:
    """A host process's listening TCP socket on 127.0.0.1:``port`` for the duration."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _got_going(berth: Berth, verb: str, pod: str) -> bool:
    """Whether ``pod create`` has recorded the pod, or ``pod start`` has started one of its containers."""
    if verb == "create":
        return pod in berth("pod", "ps").stdout
    return any(m["State"] != "created" for m in _inspect_pod(berth, pod)["Containers"])


def _truthful(berth: Berth, pod: str) -> None:
    """``pod ps``/``pod inspect`` agree with the processes: a container shown running has a live
    init, one shown exited has none."""
    for member in _inspect_pod(berth, pod)["Containers"]:
        doc = berth.inspect(member["Id"])
        state = doc["State"]
        assert member["State"] == state["Status"]
        alive = state["Pid"] > 0 and Path(f"/proc/{state['Pid']}").exists()
        assert alive == doc["IsActive"], doc  # a runtime's container (created, running, paused)


@pytest.mark.parametrize("verb", ["create", "start"])
def test_cli_killed_midway_then_pod_ps_tells_the_truth_and_prune_leaves_nothing(
    pods: Berth, verb: str
) -> None:
    pods("network", "create", "podnet")
    for attempt in range(3):
        name = f"killed{attempt}"
        if verb == "start":
            pods("pod", "create", "--name", name, "--network", "podnet")
            pods("create", "--pod", name, IMAGE, "sleep", "1000")
            argv = ["pod", "start", name]
        else:
            argv = [
                "pod",
                "create",
                "--name",
                name,
                "--network",
                "podnet",
                "-p",
                f"127.0.0.1:{18740 + attempt}:80",
            ]
        proc = pods.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Killed at once (attempt 0), or once the command has made something, then a while later.
        for _ in range(attempt):
            wait_for(lambda: proc.poll() is not None or _got_going(pods, verb, name), "the command")  # noqa: B023
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if pods("pod", "exists", name, check=False).returncode == 0:
            _truthful(pods, name)
    listed = json.loads(pods("pod", "ps", "--format", "json").stdout)
    cgroups = [_inspect_pod(pods, pod["Id"])["CgroupPath"] for pod in listed]
    pods("pod", "stop", "-a", "-t", "0")
    assert sorted(pods("pod", "prune").stdout.split()) == sorted(pod["Id"] for pod in listed)
    assert _leftovers(pods, cgroups) == NOTHING
