"""The Docker API: ``docker run --rm IMAGE true`` and ``docker ps -a`` over 100 containers, through
``berth system service`` beside the same through ``podman system service``.

Both engines hold the busybox image (built from Debian's busybox-static, copied into podman's store
as an OCI layout), in temporary roots, with runc; each service listens on its own unix socket and
the same docker client talks to both. Each command runs once to warm caches, then ``--runs``
times alternately; the medians and their ratio are printed, with the CPU time the service process
itself used per command (from /proc; the containers' monitors are separate processes) and the
machine's load. Run as root: ``uv run python bench/dockerapi.py [--runs N] [--containers N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_run import IMAGE, become_subreaper, engines
from tests.busybox import make_rootfs
from tests.integration.engine_images.image_builder import store_busybox_image

from berth.spec.image_config import ContainerConfig

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service for {path} did not start")
        time.sleep(0.05)
    time.sleep(0.2)  # bound is not yet listening


def timed(docker: list[str], socket: Path, service: int, args: list[str]) -> tuple[float, float]:
    """Wall seconds of ``docker ARGS`` against ``socket``, and the CPU seconds the service used."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}", "DOCKER_CONFIG": str(socket.parent / "docker")}
    cpu = cpu_seconds(service)
    start = time.perf_counter()
    proc = subprocess.run([*docker, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} via {socket.name} failed: {proc.stderr.strip()}")
    return elapsed, cpu_seconds(service) - cpu


def compare(docker: list[str], sides: dict[str, tuple[Path, int, list[str]]], runs: int) -> None:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for socket, pid, args in sides.values():
        timed(docker, socket, pid, args)  # warm
    for _ in range(runs):
        for name, (socket, pid, args) in sides.items():
            times[name].append(timed(docker, socket, pid, args))
    medians = {}
    for name, runs_ in times.items():
        wall = statistics.median(t[0] for t in runs_)
        cpu = statistics.median(t[1] for t in runs_)
        medians[name] = wall
        walls = ", ".join(f"{t[0] * 1000:.0f}" for t in runs_)
        print(f"  {name:8s} median {wall * 1000:7.1f} ms, service CPU {cpu * 1000:6.1f} ms  (runs: {walls})")
    ratio = medians["berth"] / medians["podman"]
    print(f"  ratio berth/podman {ratio:.2f}   (load average {os.getloadavg()[0]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--docker", default=shutil.which("docker") or "docker")
    args = parser.parse_args()
    become_subreaper()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # podman asks for limits above this host's hard ones unless told (bench/engine_run.py)
    ulimit = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]
    with engines("berth-bench-api-") as e:
        store_busybox_image(
            e.work / "berth", make_rootfs(e.work / "rootfs"), IMAGE, ContainerConfig(cmd=("sh",))
        )
        layout = f"oci:{e.work / 'layout'}:latest"
        subprocess.run([*e.berth, "copy", "-q", f"berth:{IMAGE}", layout], env=e.berth_env, check=True)
        subprocess.run([*e.podman, "pull", "-q", "oci:layout:latest"], env=e.env, cwd=e.work, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([*e.podman, "tag", "localhost/layout:latest", IMAGE], env=e.env, check=True)
        berth_socket, podman_socket = e.work / "berth.sock", e.work / "podman.sock"
        berth = subprocess.Popen(
            [*e.berth, "system", "service", f"unix://{berth_socket}", "--time", "0"], env=e.berth_env,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        podman = subprocess.Popen(
            [*e.podman, "system", "service", "--time", "0", f"unix://{podman_socket}"], env=e.env,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_socket(berth_socket, berth)
            wait_for_socket(podman_socket, podman)
            run = ["run", "--rm", "--network", "none", *ulimit, IMAGE, "true"]
            print(f"docker run --rm --network none IMAGE true, {args.runs} runs each, alternating")
            sides = {"berth": (berth_socket, berth.pid, run), "podman": (podman_socket, podman.pid, run)}
            compare([args.docker], sides, args.runs)
            for _ in range(args.containers):
                subprocess.run([*e.berth, "create", "--network", "none", IMAGE, "true"], env=e.berth_env,
                               check=True, capture_output=True)  # fmt: skip
                subprocess.run([*e.podman, "create", "--network", "none", IMAGE, "true"], env=e.env,
                               check=True, capture_output=True)  # fmt: skip
            ps = ["ps", "-a", "-q"]
            print(f"docker ps -a over {args.containers} containers, {args.runs} runs each, alternating")
            sides = {"berth": (berth_socket, berth.pid, ps), "podman": (podman_socket, podman.pid, ps)}
            compare([args.docker], sides, args.runs)
        finally:
            for proc in (berth, podman):
                proc.terminate()
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
