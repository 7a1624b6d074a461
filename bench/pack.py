"""Benchmark: pack a tree of ~20,000 files (~500 MB) into a tar+gzip layer.

Times Berth's ``pack_tree`` (ISA-L gzip, default level) beside GNU ``tar -czf`` (gzip -6), each in
its own process, printing wall time, peak RSS, output size and the ratio to GNU tar. The tree is
the one ``bench/unpack.py`` generates, extracted once into the cache directory.

    uv run python bench/pack.py --cache /var/tmp/berth-bench [--runs 1]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from unpack import bench_arguments, ensure_layer, run_measured  # bench scripts are not a package

_BERTH = """
import sys
from berth.image.layers import pack_tree
with open(sys.argv[2], "wb") as out:
    r = pack_tree(sys.argv[1], out)
print(f"  berth: {r.entries} entries, digest {r.digest}", file=sys.stderr)
"""


def main() -> None:
    args = bench_arguments(__doc__).parse_args()
    cache: Path = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    tree = cache / "pack-tree"
    if not tree.exists():
        layer = ensure_layer(cache)
        scratch = cache / "pack-tree.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        subprocess.run(["tar", "-xzf", str(layer), "-C", str(scratch)], check=True)
        scratch.rename(tree)
    subprocess.run(["tar", "-cf", "/dev/null", "-C", str(tree), "."], check=True)  # warm the page cache
    outputs = {"berth": cache / "pack-berth.tar.gz", "tar": cache / "pack-tar.tar.gz"}
    times: dict[str, list[float]] = {tool: [] for tool in outputs}
    rss: dict[str, int] = {}
    for _ in range(args.runs):
        for tool, out in outputs.items():
            if tool == "berth":
                t, peak = run_measured([sys.executable, "-c", _BERTH, str(tree), str(out)])
            else:
                t, peak = run_measured(["tar", "-C", str(tree), "-czf", str(out), "."])
            times[tool].append(t)
            rss[tool] = max(rss.get(tool, 0), peak)
    best = {tool: min(t) for tool, t in times.items()}
    print(f"{'tool':8} {'best s':>8} {'peak RSS MiB':>13} {'size MB':>8} {'vs tar':>7}")
    for tool, t in best.items():
        size = outputs[tool].stat().st_size / 1e6
        print(f"{tool:8} {t:8.2f} {rss[tool] / 1024:13.1f} {size:8.1f} {t / best['tar']:7.2f}")
    for out in outputs.values():
        out.unlink()


if __name__ == "__main__":
    main()
