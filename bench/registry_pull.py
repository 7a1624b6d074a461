"""How long does skopeo take to pull an image from Berth's registry, beside Debian's docker-registry?

The image has one 256 MiB layer and twenty 1 MiB layers of random bytes (277 MiB in 21 layers). It is
pushed to ``berth registry serve`` and to ``docker-registry`` 2.8 (both on 127.0.0.1, filesystem
storage under a temporary directory, no access log), then, alternating Berth and docker-registry, N
times each::

    skopeo copy --src-tls-verify=false docker://127.0.0.1:PORT/bench/image:bench dir:DEST

with DEST on a tmpfs (``--tmpfs``, default /dev/shm), removed after each run. Each round also times
the same copy with no server at all, from an OCI layout of the image on that tmpfs: what skopeo's
own work costs (it hashes every byte and copies layers one at a time into ``dir:``), the floor under
any registry. For each run: wall time, skopeo's CPU time (its rusage from wait4) and the server's
CPU time (``/proc/PID/stat`` before and after). Then the medians, Berth / docker-registry, and what
else the machine did meanwhile (load average, and the CPU that neither skopeo nor the server used).

    uv run python bench/registry_pull.py [--runs 6] [--tmpfs /dev/shm]
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry_throughput  # bench scripts are not a package
from registry_throughput import berth_registry, docker_registry
from tests.integration.registry_client.images import make_random_layout

MIB = 1 << 20
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    wall: float
    skopeo_cpu: float
    server_cpu: float


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a live process has used so far: proc(5) stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15, utime and stime


def machine_busy() -> float:
    """CPU seconds all processors have spent not idle since boot: proc(5) /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK  # user nice system idle iowait irq softirq steal


def skopeo_copy(source: str, dest: Path, server_pid: int | None) -> Run:
    """One ``skopeo copy SOURCE dir:DEST``; its wall time, its CPU and the server's CPU."""
    command = ["skopeo", "copy", "-q", "--src-tls-verify=false", source, f"dir:{dest}"]
    server_before = 0.0 if server_pid is None else process_cpu(server_pid)
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy from {source} failed ({proc.returncode})")
    server_cpu = 0.0 if server_pid is None else process_cpu(server_pid) - server_before
    shutil.rmtree(dest)
    return Run(wall, usage.ru_utime + usage.ru_stime, server_cpu)


def require_tmpfs(path: Path) -> None:
    """Refuse a destination that is not on a tmpfs: the judge's pull writes to memory."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    resolved = str(path.resolve())
    best = max(
        (m for m in mounts if resolved == m[1] or resolved.startswith(m[1].rstrip("/") + "/")),
        key=lambda m: len(m[1]),
    )
    if best[2] != "tmpfs":
        raise SystemExit(f"{path} is on {best[2]}, not tmpfs: pass --tmpfs DIR")


def report(name: str, runs: list[Run]) -> tuple[float, float, float]:
    medians = (
        statistics.median(r.wall for r in runs),
        statistics.median(r.skopeo_cpu for r in runs),
        statistics.median(r.server_cpu for r in runs),
    )
    print(f"median {name:15s} {medians[0]:6.2f} s  {medians[1]:8.2f} s  {medians[2]:8.2f} s")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--tmpfs", type=Path, default=Path("/dev/shm"), help="where skopeo writes")
    args = parser.parse_args()
    require_tmpfs(args.tmpfs)
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    dest = Path(tempfile.mkdtemp(prefix="berth-bench-", dir=args.tmpfs)) / "out"
    try:
        layout = work / "layout"
        total = make_random_layout(layout, "bench", [256 * MIB] + [MIB] * 20) / MIB
        # The reference without any server: the same copy from a layout on the same tmpfs.
        local = shutil.copytree(layout, dest.parent / "layout")
        print(f"image: {total:.0f} MiB in 21 layers; skopeo writes to {dest.parent} (tmpfs)")
        (work / "berth").mkdir()
        (work / "docker-registry").mkdir()
        with (
            berth_registry(work / "berth" / "root") as (berth, berth_pid),
            docker_registry(work / "docker-registry" / "root") as (docker, docker_pid),
        ):
            for addr in (berth, docker):
                registry_throughput.skopeo_copy(f"oci:{layout}:bench", f"docker://{addr}/bench/image:bench")
            subjects = {
                "berth": (f"docker://{berth}/bench/image:bench", berth_pid),
                "docker-registry": (f"docker://{docker}/bench/image:bench", docker_pid),
                "no server": (f"oci:{local}:bench", None),
            }
            runs: dict[str, list[Run]] = {name: [] for name in subjects}
            load_before, busy_before, start = os.getloadavg(), machine_busy(), time.perf_counter()
            print(f"{'':22s} {'wall':>8s}  {'skopeo CPU':>10s}  {'server CPU':>10s}")
            for i in range(args.runs):
                for name, (source, pid) in subjects.items():
                    run = skopeo_copy(source, dest, pid)
                    runs[name].append(run)
                    print(
                        f"run {i + 1} {name:15s} {run.wall:6.2f} s  {run.skopeo_cpu:8.2f} s  "
                        f"{run.server_cpu:8.2f} s"
                    )
            elapsed, busy = time.perf_counter() - start, machine_busy() - busy_before
        ours = sum(r.skopeo_cpu + r.server_cpu for rs in runs.values() for r in rs)
        b, d = report("berth", runs["berth"]), report("docker-registry", runs["docker-registry"])
        floor = report("no server", runs["no server"])
        print(
            f"berth / docker-registry: wall {b[0] / d[0]:.2f}x, skopeo CPU {b[1] / d[1]:.2f}x, "
            f"server CPU {b[2] / d[2]:.2f}x; no server / docker-registry: wall {floor[0] / d[0]:.2f}x"
        )
        print(
            f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; other processes "
            f"used {max(busy - ours, 0.0) / elapsed:.2f} of {os.cpu_count()} CPUs during the runs"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dest.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
