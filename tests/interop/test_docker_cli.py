"""The docker CLI (Debian's docker.io client; dockerd never runs) with ``DOCKER_HOST`` pointed at
``berth system service``: run, logs, exec (with a pseudo-terminal too), ps, inspect, stats, and
the containers seen by ``berth`` and the API alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dockerapi.conftest import IMAGE, Service, berth, busybox_root
from tests.integration.engine_cli.conftest import Berth
from tests.integration.registry_server.peers import serve_cli

__all__ = ["berth", "busybox_root"]

#: Debian's client where installed (scripts/setup.sh), else whichever is on PATH.
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(300),
    pytest.mark.skipif(DOCKER is None, reason="the docker client is not installed"),
]


class Docker:
    """Runs the docker client against the service."""

    def __init__(self, socket_path: Path, config_dir: Path) -> None:
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}", "DOCKER_CONFIG": str(config_dir)}

    def __call__(self, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        proc = subprocess.run(
            [DOCKER, *args], env=self.env, capture_output=True, text=True, timeout=120, **kw
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}{proc.stdout}"
            )
        return proc


@pytest.fixture
def docker(berth: Berth, tmp_path: Path) -> Iterator[Docker]:
    service = Service(berth, tmp_path / "api.sock", "--time", "0")
    try:
        yield Docker(service.socket_path, tmp_path / "docker-config")
    finally:
        service.stop()


def test_run_rm_gives_output_and_exit_code(docker: Docker, berth: Berth) -> None:
    out = docker(
        "run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3", check=False
    )
    assert (out.returncode, out.stdout, out.stderr) == (3, "out\n", "err\n")
    assert berth("ps", "-a", "-q").stdout == ""  # removed


def test_run_with_stdin(docker: Docker) -> None:
    out = docker("run", "--rm", "-i", "--network", "none", IMAGE, "tr", "a-z", "A-Z", input="piped in\n")
    assert out.stdout == "PIPED IN\n"


def test_run_detached_logs_follow_ps_inspect_stats(docker: Docker, berth: Berth) -> None:
    cid = docker(
        "run", "-d", "--name", "web", "-l", "role=web", IMAGE, "sh", "-c", "echo up; sleep 300"
    ).stdout.strip()
    assert "web" in berth("ps").stdout  # the engine's own view
    listed = docker(
        "ps", "--filter", "label=role=web", "--format", "{{.ID}} {{.Names}} {{.Status}}"
    ).stdout.split()
    assert listed[:3] == [cid[:12], "web", "Up"]
    doc = json.loads(docker("inspect", "web").stdout)[0]
    assert (doc["Id"], doc["Name"], doc["State"]["Running"]) == (cid, "/web", True)
    assert doc["NetworkSettings"]["IPAddress"]
    stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "web").stdout
    assert stats.startswith("web ")
    assert docker("logs", "web").stdout == "up\n"
    docker("stop", "-t", "0", "web")
    assert docker("logs", "-f", "web").stdout == "up\n"  # follows until the container ended
    assert docker("wait", "web").stdout.strip() == "137"
    docker("rm", "web")
    assert berth("ps", "-a", "-q").stdout == ""


def test_run_detached_then_logs_follow(docker: Docker) -> None:
    docker(
        "run", "-d", "--name", "ticker", "--network", "none", IMAGE, "sh", "-c", "echo a; sleep 0.5; echo b"
    )
    assert docker("logs", "-f", "ticker").stdout == "a\nb\n"
    assert docker("logs", "--tail", "1", "ticker").stdout == "b\n"
    docker("rm", "ticker")


def test_exec_and_exec_with_a_terminal(docker: Docker) -> None:
    docker("run", "-d", "--name", "box", "--network", "none", IMAGE, "sleep", "300")
    out = docker("exec", "box", "sh", "-c", "echo in; exit 4", check=False)
    assert (out.returncode, out.stdout) == (4, "in\n")
    assert docker("exec", "-i", "box", "cat", input="via stdin\n").stdout == "via stdin\n"
    assert DOCKER is not None
    # -it needs a terminal: script(1) gives the client one, of a known size.
    command = f"stty rows 33 cols 77; {DOCKER} exec -it box sh -c 'sleep 0.3; stty size; exit 2'"
    tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"], env=docker.env, capture_output=True, text=True, timeout=120
    )
    assert tty.returncode == 2, tty.stdout + tty.stderr
    assert "33 77" in tty.stdout
    # An error reaches the user as its message (the client decodes Docker's error body).
    refused = docker("rm", "box", check=False)
    assert refused.returncode == 1
    refusal = "container box is running: stop the container before removing or force remove"
    assert refused.stderr.strip() == f"Error response from daemon: {refusal}"
    docker("rm", "-f", "box")


def test_made_by_berth_seen_by_docker(docker: Docker, berth: Berth) -> None:
    berth("create", "--name", "by-berth", "--network", "none", IMAGE, "true")
    assert docker("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["by-berth"]
    docker("start", "-a", "by-berth")
    assert json.loads(docker("inspect", "by-berth").stdout)[0]["State"]["Status"] == "exited"
    docker("rm", "by-berth")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    with serve_cli(tmp_path / "registry") as addr:
        yield addr


def test_push_pull_and_run_pulls_a_missing_image(docker: Docker, berth: Berth, registry: str) -> None:
    remote = f"{registry}/cli/busybox:1"
    docker("tag", IMAGE, remote)
    pushed = docker("push", remote)
    assert "digest: sha256:" in pushed.stdout
    docker("rmi", remote)
    assert remote not in berth("images").stdout
    docker("pull", remote)
    assert remote in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    docker("rmi", remote)
    out = docker("run", "--rm", "--network", "none", remote, "echo", "pulled by run")
    assert out.stdout == "pulled by run\n"
    assert "Unable to find image" in out.stderr


def test_network_and_volume_create(docker: Docker, berth: Berth) -> None:
    docker("network", "create", "clinet")
    docker("volume", "create", "clivol")
    assert "clinet" in berth("network", "ls").stdout
    assert "clivol" in berth("volume", "ls").stdout
    out = docker(
        "run",
        "--rm",
        "--network",
        "clinet",
        "-v",
        "clivol:/data",
        IMAGE,
        "sh",
        "-c",
        "echo kept > /data/f; hostname -i",
    )
    assert out.stdout.strip()
    assert (
        docker("run", "--rm", "--network", "none", "-v", "clivol:/data", IMAGE, "cat", "/data/f").stdout
        == "kept\n"
    )
    assert "clinet" in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    docker("network", "rm", "clinet")
    docker("volume", "rm", "clivol")


def test_cp_both_ways(docker: Docker, tmp_path: Path) -> None:
    docker("run", "-d", "--name", "files", "--network", "none", IMAGE, "sleep", "300")
    (tmp_path / "up.txt").write_text("to the container\n")
    docker("cp", str(tmp_path / "up.txt"), "files:/tmp/up.txt")
    assert docker("exec", "files", "cat", "/tmp/up.txt").stdout == "to the container\n"
    docker("exec", "files", "sh", "-c", "mkdir -p /out/sub && echo back > /out/sub/f")
    docker("cp", "files:/out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "f").read_text() == "back\n"
    docker("rm", "-f", "files")


def test_events_and_system_df(docker: Docker) -> None:
    import time

    start = time.time()
    docker("run", "--rm", "--name", "ev", "--network", "none", IMAGE, "true")
    until = time.time() + 1
    out = docker(
        "events", "--since", f"{start - 1:.3f}", "--until", f"{until:.3f}", "--filter", "container=ev",
        "--format", "{{.Type}} {{.Action}}",
    ).stdout.split("\n")  # fmt: skip
    assert "container create" in out
    assert "container die" in out
    assert "container destroy" in out
    df = docker("system", "df").stdout
    assert "Images" in df and "Local Volumes" in df


def test_build_then_run(docker: Docker, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {IMAGE}\nARG WHO=nobody\nCOPY greeting /greeting\nRUN echo built by $WHO >> /greeting\n"
    )
    (context / "greeting").write_text("hello\n")
    out = docker("build", "--network", "none", "--build-arg", "WHO=docker", "-t", "built:1", str(context))
    assert "Successfully tagged built:1" in out.stdout
    assert docker("run", "--rm", "--network", "none", "built:1", "cat", "/greeting").stdout == (
        "hello\nbuilt by docker\n"
    )
    quiet = docker("build", "-q", "--network", "none", str(context)).stdout.strip()
    assert quiet.startswith("sha256:") and "\n" not in quiet
    assert docker("image", "inspect", "-f", "{{.Id}}", quiet).stdout.strip() == quiet
    (context / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN exit 4\n")
    failed = docker("build", "--network", "none", str(context), check=False)
    assert failed.returncode != 0 and "returned a non-zero code: 4" in failed.stderr
