"""How long does ``berth ps -a`` take with 100 containers, beside ``podman ps -a``?

Both engines get 100 created (not started) containers on the busybox test root (``--rootfs``), in
temporary storage roots; each ``ps -a`` runs once to warm caches, then ``--runs`` times alternately,
and the medians and their ratio are printed. Run as root: ``uv run python bench/engine_ps.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine_run import engines, report  # bench scripts are not a package
from tests.busybox import make_rootfs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with engines("berth-bench-ps-") as e:
        rootfs = make_rootfs(e.work / "rootfs")
        for i in range(args.containers):
            create = ["create", "--network", "none", "--name", f"c{i}", "--rootfs", str(rootfs), "true"]
            subprocess.run([*e.berth, *create], env=e.berth_env, check=True, capture_output=True)
            subprocess.run([*e.podman, *create], env=e.env, check=True, capture_output=True)
        berth, podman = e.compare([*e.berth, "ps", "-a"], [*e.podman, "ps", "-a"], args.runs)
        print(f"ps -a with {args.containers} containers, {args.runs} runs each, alternating")
        b = report("berth", berth)
        p = report("podman", podman)
        print(f"ratio berth/podman       {b / p:.2f}")


if __name__ == "__main__":
    main()
