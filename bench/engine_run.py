"""How long does ``berth run --rm IMAGE true`` take, end to end, beside ``podman run --rm``?

Both run the same busybox image (built here from Debian's busybox-static, stored in Berth's image
store and copied into podman's as an OCI layout), podman with runc and Berth with runc or the
``--runtime`` given, on their default bridge network, from temporary storage roots. Each command
runs once to warm caches, then ``--runs`` times alternately; the medians and their ratio are
printed. Run as root: ``uv run python bench/engine_run.py [--runtime berth-runtime]``.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.busybox import make_rootfs
from tests.integration.engine_images.image_builder import store_busybox_image

from berth.spec.image_config import ContainerConfig

IMAGE = "localhost/berth-bench/busybox:latest"


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
        return [sys.executable, "-m", "berth.cli.main"]

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

    def compare(
        self, berth_argv: list[str], podman_argv: list[str], runs: int
    ) -> tuple[list[float], list[float]]:
        """Each command once to warm caches (and write Python bytecode), then ``runs`` times
        alternately; the times of Berth's and podman's runs."""
        timed(berth_argv, self.berth_env), timed(podman_argv, self.env)
        berth_times, podman_times = [], []
        for _ in range(runs):
            berth_times.append(timed(berth_argv, self.berth_env))
            podman_times.append(timed(podman_argv, self.env))
        return berth_times, podman_times


@contextmanager
def engines(prefix: str, runtime: str = "runc") -> Iterator[Engines]:
    """``Engines`` in a new temporary directory, removed afterwards with podman's containers,
    images and mounts."""
    e = Engines(Path(tempfile.mkdtemp(prefix=prefix)), runtime)
    try:
        yield e
    finally:
        subprocess.run([*e.podman, "rm", "-a", "-f"], env=e.env, capture_output=True)
        subprocess.run([*e.podman, "rmi", "-a", "-f"], env=e.env, capture_output=True)
        subprocess.run(["umount", "-R", str(e.work / "podman")], capture_output=True)
        shutil.rmtree(e.work, ignore_errors=True)


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` took; exits the benchmark if it failed."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def ms(times: list[float]) -> str:
    """``times`` in whole milliseconds, comma separated."""
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", default="runc", help="Berth's runtime (podman always uses runc)")
    args = parser.parse_args()
    # podman asks for RLIMIT_NOFILE 1048576 (and a large RLIMIT_NPROC), above this host's hard
    # limits (no CAP_SYS_RESOURCE here); Berth lowers its default by itself, podman is told to.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ulimit = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]
    with engines("berth-bench-run-", args.runtime) as e:
        store_busybox_image(
            e.work / "berth", make_rootfs(e.work / "rootfs"), IMAGE, ContainerConfig(cmd=("sh",))
        )
        layout = f"oci:{e.work / 'layout'}:latest"
        subprocess.run([*e.berth, "copy", "-q", f"berth:{IMAGE}", layout], env=e.berth_env, check=True)
        subprocess.run([*e.podman, "pull", "-q", layout], env=e.env, check=True, capture_output=True)
        podman_image = subprocess.run(
            [*e.podman, "images", "-q"], env=e.env, check=True, capture_output=True, text=True
        ).stdout.split()[0]
        berth_times, podman_times = e.compare(
            [*e.berth, "run", "--rm", IMAGE, "true"],
            [*e.podman, "run", "--rm", *ulimit, podman_image, "true"],
            args.runs,
        )
        b, p = statistics.median(berth_times), statistics.median(podman_times)
        label = f"berth ({args.runtime})"
        print(f"{label} run --rm IMAGE true  median {b * 1000:7.1f} ms  (runs: {ms(berth_times)})")
        print(f"podman (runc) run --rm IMAGE true  median {p * 1000:7.1f} ms  (runs: {ms(podman_times)})")
        print(f"ratio berth/podman          {b / p:.2f}")


if __name__ == "__main__":
    main()
