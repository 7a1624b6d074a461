"""How long does ``berth build`` take beside buildah 1.28, cold and warm?

The issue's 12-step Containerfile (two stages, ARG, RUN, COPY of 2,000 files, ENV, WORKDIR, USER,
COPY --from, CMD) is built from one busybox base (``berth import``; buildah pulls Berth's
``oci-archive`` of it) by both, each from its own temporary storage (buildah: vfs, runc, no
ulimits, ``--layers`` as Berth's default). Cold: the base is present, nothing is cached
(``--no-cache``: every step runs; Berth still records its steps, as buildah does). Warm: a second
build of the unchanged context, all cached. After one warm-up build each, the tools run
alternately ``--runs`` times; the medians of wall and CPU time (of every process each command
ran) and the ratios are printed with the machine's load.

Run as root: ``uv run python bench/build.py [--runs 5] [--network none|default]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine_run import become_subreaper, ms, timed  # bench scripts are not a package
from tests.busybox import make_rootfs

BASE = "localhost/busybox:bench"
CONTAINERFILE = f"""\
FROM {BASE} AS build
ARG VERSION=1
RUN mkdir -p /out && echo "$VERSION" > /out/version
COPY files/ /src/
RUN find /src -type f | wc -l > /out/count
FROM {BASE}
ENV APP=/app
WORKDIR /app
COPY --from=build /out/ /app/
COPY files/ /app/files/
USER 1000
CMD ["cat", "/app/count"]
"""


def make_context(ctx: Path, count: int = 2000) -> None:
    """The Containerfile and ``count`` small files in 20 directories."""
    for i in range(count):
        path = ctx / "files" / f"d{i % 20:02d}" / f"f{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n" * (1 + i % 50))
    (ctx / "Containerfile").write_text(CONTAINERFILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--network", choices=("none", "default"), default="none")
    args = parser.parse_args()
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-build-"))
    runroot = Path(tempfile.mkdtemp(prefix="bh-", dir="/tmp"))  # buildah's sockets: a short path
    (work / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    env = {
        **os.environ,
        "BERTH_ROOT": str(work / "berth"),
        "BERTH_RUNROOT": str(work / "berth-run"),
        "BERTH_RUNTIME": "runc",
        "CONTAINERS_CONF": str(work / "containers.conf"),
    }
    berth = [sys.executable, "-m", "berth.cli.main"]
    storage = ["--root", str(work / "buildah"), "--runroot", str(runroot), "--storage-driver", "vfs"]
    buildah = ["buildah", *storage]
    network = ["--network", "none"] if args.network == "none" else []
    try:
        subprocess.run([*berth, "import", str(make_rootfs(work / "rootfs")), BASE], env=env, check=True)
        archive = work / "base.tar"
        subprocess.run(
            [*berth, "save", "--format", "oci-archive", "-o", str(archive), BASE], env=env, check=True
        )
        subprocess.run([*buildah, "pull", "-q", f"oci-archive:{archive}"], env=env, check=True)
        ctx = work / "ctx"
        make_context(ctx)
        commands = {
            "berth": [*berth, "build", "-q", *network, "-t", "localhost/bench:1"],
            "buildah": [
                *buildah, "build", "-q", "--layers", "--pull-never", "--runtime", "runc", *network,
                "-t", "localhost/bench:1",
            ],
        }  # fmt: skip
        results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for phase, extra in (("cold", ["--no-cache"]), ("warm", [])):
            for tool in commands:
                timed([*commands[tool], *extra, str(ctx)], env)  # warm-up (and, for warm, the cache)
            for _ in range(args.runs):
                for tool, argv in commands.items():
                    wall, cpu = timed([*argv, *extra, str(ctx)], env)
                    walls, cpus = results.setdefault((phase, tool), ([], []))
                    walls.append(wall)
                    cpus.append(cpu)
        print(f"berth build vs buildah 1.28 (vfs), 12 steps, COPY of 2,000 files, --network {args.network}")
        print(f"{args.runs} runs each, alternating (after one warm-up each)")
        for phase in ("cold", "warm"):
            medians = {}
            for tool in commands:
                walls, cpus = results[(phase, tool)]
                medians[tool] = (statistics.median(walls), statistics.median(cpus))
                print(
                    f"{phase} {tool:8s} median {medians[tool][0]:6.2f} s, CPU {medians[tool][1]:6.2f} s"
                    f"  (runs, ms: {ms(walls)})"
                )
            wall_ratio = medians["berth"][0] / medians["buildah"][0]
            cpu_ratio = medians["berth"][1] / medians["buildah"][1]
            print(f"{phase} ratio berth/buildah: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")
        print(f"load average {os.getloadavg()[0]:.2f} (2 cores, shared)")
    finally:
        subprocess.run([*buildah, "rmi", "-a", "-f"], env=env, capture_output=True)
        subprocess.run([*berth, "system", "prune", "-a", "-f"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)


if __name__ == "__main__":
    main()
