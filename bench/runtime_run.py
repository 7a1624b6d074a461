"""How long does ``run`` of /bin/true take, berth-runtime beside runc, and how much memory?

Runs N sequential ``<runtime> --root TMP run --bundle B ID`` of a busybox bundle (runc's default
spec, no terminal, ``/bin/true``), alternating the two runtimes so both see the same machine load.
Reports the median and p90 wall time of each, the ratio, and the peak RSS of the runtime process
tree (ru_maxrss of the reaped children: the largest single process). Needs root.

    uv run python bench/runtime_run.py [-n 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.busybox import make_rootfs

from berth.runtime.verbs.spec import default_config


def one_run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds of one run, and the peak RSS (KiB) of the processes it reaped."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {status}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="runs per runtime")
    args = parser.parse_args()
    berth = shutil.which("berth-runtime") or str(Path(sys.executable).parent / "berth-runtime")
    runc = shutil.which("runc")
    if runc is None:
        raise SystemExit("runc is not installed")
    # Both runtimes keep their state on tmpfs, as under /run on a usual host.
    with tempfile.TemporaryDirectory(prefix="bench-runtime-", dir="/dev/shm") as tmp:
        bundle = Path(tmp) / "bundle"
        make_rootfs(bundle / "rootfs")
        config = default_config()
        config["process"]["terminal"] = False
        config["process"]["args"] = ["/bin/true"]
        (bundle / "config.json").write_text(json.dumps(config))
        runtimes = {"berth-runtime": berth, "runc": runc}
        times: dict[str, list[float]] = {name: [] for name in runtimes}
        peaks: dict[str, int] = dict.fromkeys(runtimes, 0)
        for i in range(args.n):
            for name, exe in runtimes.items():
                argv = [exe, "--root", f"{tmp}/state-{name}", "run", "--bundle", str(bundle), f"bench{i}"]
                elapsed, rss = one_run(argv)
                times[name].append(elapsed)
                peaks[name] = max(peaks[name], rss)
    print(f"{'runtime':<14} {'median ms':>10} {'p90 ms':>8} {'peak RSS MiB':>13}   ({args.n} runs each)")
    for name in runtimes:
        samples = sorted(times[name])
        p90 = samples[int(len(samples) * 0.9) - 1]
        print(f"{name:<14} {statistics.median(samples) * 1000:>10.1f} {p90 * 1000:>8.1f} "
              f"{peaks[name] / 1024:>13.1f}")  # fmt: skip
    ratio = statistics.median(times["berth-runtime"]) / statistics.median(times["runc"])
    print(f"ratio berth-runtime/runc (median): {ratio:.2f}")


if __name__ == "__main__":
    main()
