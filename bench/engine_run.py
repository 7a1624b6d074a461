"""How long does ``berth run --rm IMAGE true`` take, end to end, beside ``podman run --rm``?

Both run the same busybox image (built here from Debian's busybox-static, stored in Berth's image
store and copied into podman's as an OCI layout), podman with runc and Berth with runc or the
``--runtime`` given, on the ``--network`` given (``default``: each engine's default bridge network;
``none``), from temporary storage roots. Each command runs once to warm caches, then ``--runs``
times alternately; the medians and their ratio are printed, with the CPU time of every process
each command ran (this script is a child subreaper, so the monitor and conmon, which leave their
command's process tree, are counted too) and the machine's load.
Run as root: ``uv run python bench/engine_run.py [--network none] [--runtime berth-runtime]``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.busybox import make_rootfs
from tests.integration.engine_images.image_builder import store_busybox_image

from berth.spec.image_config import ContainerConfig

IMAGE = "localhost/berth-bench/busybox:latest"
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Engines:
    """Berth (on ``runtime``) and podman (on runc), each with its storage under ``work``."""

    work: Path
    runtime: str

    @property
    def env(self) -> dict[str, str]:
        """The environment podman runs in (bytecode writing left on for both, as a user has it)."""
        return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    @property
    def berth_env(self) -> dict[str, str]:
        """Berth's environment: its roots under ``work``, no configuration file."""
        return {
            **self.env,
            "BERTH_ROOT": str(self.work / "berth"),
            "BERTH_RUNROOT": str(self.work / "berth-run"),
            "BERTH_RUNTIME": self.runtime,
            "BERTH_CONFIG": str(self.work / "none.toml"),
        }

    @property
    def berth(self) -> list[str]:
        """The ``berth`` program as a user runs it (the venv's console script)."""
        return [str(Path(sys.executable).with_name("berth"))]

    @property
    def podman(self) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.work / "podman"),
            "--runroot",
            str(self.work / "podman-run"),
            "--runtime",
            "runc",
        ]

    def compare(self, berth_argv: list[str], podman_argv: list[str], runs: int) -> tuple[Timings, Timings]:
        """Each command once to warm caches (and write Python bytecode), then ``runs`` times
        alternately; the times of Berth's and podman's runs."""
        timed(berth_argv, self.berth_env), timed(podman_argv, self.env)
        berth, podman = Timings(), Timings()
        for _ in range(runs):
            berth.add(*timed(berth_argv, self.berth_env))
            podman.add(*timed(podman_argv, self.env))
        return berth, podman


@dataclass
class Timings:
    """Wall-clock and CPU seconds of each run of one command."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)


@contextmanager
def engines(prefix: str, runtime: str = "runc") -> Iterator[Engines]:
    """``Engines`` in a new temporary directory, removed afterwards with both engines' containers,
    Berth's networks (a bridge and its masquerade rule outlive the storage root), podman's images
    and mounts."""
    e = Engines(Path(tempfile.mkdtemp(prefix=prefix)), runtime)
    try:
        yield e
    finally:
        subprocess.run([*e.berth, "rm", "-a", "-f"], env=e.berth_env, capture_output=True)
        networks = subprocess.run(
            [*e.berth, "network", "ls", "-q"], env=e.berth_env, capture_output=True, text=True
        )
        for name in networks.stdout.split():
            subprocess.run([*e.berth, "network", "rm", "-f", name], env=e.berth_env, capture_output=True)
        subprocess.run([*e.podman, "rm", "-a", "-f"], env=e.env, capture_output=True)
        subprocess.run([*e.podman, "rmi", "-a", "-f"], env=e.env, capture_output=True)
        # podman's storage mounts itself (overlay/) and its containers' roots under it
        for target in sorted(_mounts_under(e.work), reverse=True):
            subprocess.run(["umount", target], capture_output=True)
        shutil.rmtree(e.work, ignore_errors=True)


def _mounts_under(top: Path) -> list[str]:
    """The mount points at or below ``top`` (/proc/self/mountinfo's fifth field)."""
    with open("/proc/self/mountinfo") as fh:
        targets = [line.split()[4] for line in fh]
    return [t for t in targets if t == str(top) or t.startswith(f"{top}/")]


def become_subreaper() -> None:
    """Adopt the processes the commands leave behind (monitor, conmon), so their CPU is counted."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds ``argv`` took, and CPU seconds of it and every process it left behind
    (waited for up to ten seconds); exits the benchmark if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.005)
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def ms(times: list[float]) -> str:
    """``times`` in whole milliseconds, comma separated."""
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def report(label: str, t: Timings) -> float:
    """Print ``label``'s median wall and CPU time and its runs; return the median wall time."""
    wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
    print(f"{label:24s} median {wall * 1000:6.1f} ms, CPU {cpu * 1000:6.1f} ms  (runs: {ms(t.wall)})")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", default="runc", help="Berth's runtime (podman always uses runc)")
    parser.add_argument("--network", choices=("default", "none"), default="default")
    args = parser.parse_args()
    become_subreaper()
    # podman asks for RLIMIT_NOFILE 1048576 (and a large RLIMIT_NPROC), above this host's hard
    # limits (no CAP_SYS_RESOURCE here); Berth lowers its default by itself, podman is told to.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ulimit = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]
    network = [] if args.network == "default" else ["--network", args.network]
    with engines("berth-bench-run-", args.runtime) as e:
        store_busybox_image(
            e.work / "berth", make_rootfs(e.work / "rootfs"), IMAGE, ContainerConfig(cmd=("sh",))
        )
        layout = f"oci:{e.work / 'layout'}:latest"
        subprocess.run([*e.berth, "copy", "-q", f"berth:{IMAGE}", layout], env=e.berth_env, check=True)
        # Relative: podman names the image after the path, which a temporary directory's name may
        # make an invalid reference (a component ending in "_").
        pull = [*e.podman, "pull", "-q", "oci:layout:latest"]
        pulled = subprocess.run(pull, env=e.env, cwd=e.work, capture_output=True, text=True)
        if pulled.returncode != 0:
            raise SystemExit(f"podman pull {layout} failed: {pulled.stderr.strip()}")
        podman_image = subprocess.run(
            [*e.podman, "images", "-q"], env=e.env, check=True, capture_output=True, text=True
        ).stdout.split()[0]
        berth, podman = e.compare(
            [*e.berth, "run", "--rm", *network, IMAGE, "true"],
            [*e.podman, "run", "--rm", *network, *ulimit, podman_image, "true"],
            args.runs,
        )
        print(f"run --rm --network {args.network} IMAGE true, {args.runs} runs each, alternating")
        b = report(f"berth ({args.runtime})", berth)
        p = report("podman (runc)", podman)
        print(f"ratio berth/podman       {b / p:.2f}   (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
