"""How long does ``berth ps -a`` take with 100 containers, beside ``podman ps -a``?

Both engines get 100 created (not started) containers on the busybox test root (``--rootfs``), in
temporary storage roots; each ``ps -a`` runs once to warm caches, then ``--runs`` times alternately,
and the medians and their ratio are printed. Run as root: ``uv run python bench/engine_ps.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.busybox import make_rootfs


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def _ms(times: list[float]) -> str:
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-ps-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    berth_env = {
        **env,
        "BERTH_ROOT": str(work / "berth"),
        "BERTH_RUNROOT": str(work / "berth-run"),
        "BERTH_RUNTIME": "runc",
        "BERTH_CONFIG": str(work / "none.toml"),
    }
    berth = [sys.executable, "-m", "berth.cli.main"]
    podman = [
        "podman",
        "--root",
        str(work / "podman"),
        "--runroot",
        str(work / "podman-run"),
        "--runtime",
        "runc",
    ]
    try:
        rootfs = make_rootfs(work / "rootfs")
        for i in range(args.containers):
            subprocess.run(
                [*berth, "create", "--network", "none", "--name", f"c{i}", "--rootfs", str(rootfs), "true"],
                env=berth_env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [*podman, "create", "--network", "none", "--name", f"c{i}", "--rootfs", str(rootfs), "true"],
                env=env,
                check=True,
                capture_output=True,
            )
        berth_ps, podman_ps = [*berth, "ps", "-a"], [*podman, "ps", "-a"]
        timed(berth_ps, berth_env), timed(podman_ps, env)
        berth_times, podman_times = [], []
        for _ in range(args.runs):
            berth_times.append(timed(berth_ps, berth_env))
            podman_times.append(timed(podman_ps, env))
        b, p = statistics.median(berth_times), statistics.median(podman_times)
        n = args.containers
        print(f"berth ps -a  ({n} containers)  median {b * 1000:7.1f} ms  (runs: {_ms(berth_times)})")
        print(f"podman ps -a ({n} containers)  median {p * 1000:7.1f} ms  (runs: {_ms(podman_times)})")
        print(f"ratio berth/podman                  {b / p:.2f}")
    finally:
        subprocess.run([*podman, "rm", "-a", "-f"], env=env, capture_output=True)
        subprocess.run(["umount", "-R", str(work / "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
