"""Benchmark: unpack a ~500 MB (uncompressed) tar.gz layer of ~20,000 files.

Times Berth's ``apply_layer`` beside GNU ``tar -xzf`` and ``umoci unpack`` (given an OCI layout
with a minimal manifest and config around the same layer), each in its own process, and prints
wall time, peak RSS and the ratio to GNU tar. The layer is generated once and cached.

    uv run python bench/unpack.py --cache /var/tmp/berth-bench [--work DIR] [--runs 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

FILES = 20_000
TARGET_BYTES = 500 * 1000 * 1000


def _content_pool(rng: random.Random) -> bytes:
    """8 MiB mixing text-like (compressible) and random (incompressible) runs, like real layers."""
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 12))) for _ in range(4000)]
    parts = []
    size = 0
    while size < 8 << 20:
        if rng.random() < 0.4:
            piece = rng.randbytes(rng.randint(1 << 10, 64 << 10))
        else:
            piece = b" ".join(rng.choices(words, k=rng.randint(200, 8000))) + b"\n"
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _sizes(rng: random.Random) -> list[int]:
    """Mostly small files, some medium, a few large; scaled to about TARGET_BYTES in all."""
    sizes = []
    for _ in range(FILES):
        r = rng.random()
        if r < 0.80:
            sizes.append(rng.randint(0, 16 << 10))
        elif r < 0.98:
            sizes.append(rng.randint(16 << 10, 256 << 10))
        else:
            sizes.append(rng.randint(1 << 20, 16 << 20))
    scale = TARGET_BYTES / sum(sizes)
    return [int(s * scale) for s in sizes]


def make_tree(root: Path, seed: int = 1) -> None:
    """Generate the benchmark tree: FILES files in a few hundred directories, a few symlinks."""
    rng = random.Random(seed)
    pool = _content_pool(rng)
    dirs = [Path(f"d{i:03d}/s{j:02d}") for i in range(40) for j in range(10)]
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for n, size in enumerate(_sizes(rng)):
        path = root / dirs[n % len(dirs)] / f"f{n:05d}.dat"
        start = rng.randrange(0, len(pool) - min(size, len(pool) - 1))
        data = pool[start : start + size]
        while len(data) < size:
            data += pool[: size - len(data)]
        path.write_bytes(data)
        if n % 500 == 0:
            (root / dirs[n % len(dirs)] / f"link{n}").symlink_to(path.name)


def ensure_layer(cache: Path) -> Path:
    """The cached benchmark layer (made with GNU tar and gzip on first use)."""
    layer = cache / "layer.tar.gz"
    if not layer.exists():
        tree = cache / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        print(f"generating {FILES} files under {tree} ...", flush=True)
        make_tree(tree)
        subprocess.run(["tar", "-C", str(tree), "-czf", f"{layer}.tmp", "."], check=True)
        os.rename(f"{layer}.tmp", layer)
        shutil.rmtree(tree)
    return layer


def _oci_layout(cache: Path, layer: Path) -> Path:
    """A minimal OCI image layout around ``layer`` for umoci (manifest + config + index)."""
    layout = cache / "layout"
    if (layout / "index.json").exists():
        return layout
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    diff = hashlib.sha256()
    with open(layer, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    proc = subprocess.Popen(["gzip", "-dc", str(layer)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while chunk := proc.stdout.read(1 << 20):
        diff.update(chunk)
    proc.wait()
    layer_blob = blobs / digest.hexdigest()
    if not layer_blob.exists():
        os.link(layer, layer_blob)

    def put(doc: dict[str, object]) -> tuple[str, int]:
        data = json.dumps(doc).encode()
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return f"sha256:{h}", len(data)

    config, config_size = put(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff.hexdigest()}"]},
        }
    )
    manifest, manifest_size = put(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{digest.hexdigest()}",
                    "size": layer.stat().st_size,
                }
            ],
        }
    )
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def run_measured(argv: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """Run ``argv``; return (wall seconds, peak RSS in KiB).

    The peak comes from GNU time(1), whose small process forks the tool: Linux carries a process's
    RSS high-water mark across exec, so a tool spawned straight from this (larger) Python process
    would report this process's peak instead of its own.
    """
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"berth-bench-rss-{os.getpid()}"
    start = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *argv], cwd=cwd, check=True)
    elapsed = time.perf_counter() - start
    peak = int(report.read_text().split()[-1])
    report.unlink()
    return elapsed, peak


_BERTH = """
import sys
from berth.image.layers import apply_layer
with open(sys.argv[1], "rb") as blob:
    r = apply_layer(blob, sys.argv[2])
print(f"  berth: {r.entries} entries, diffID {r.diff_id}", file=sys.stderr)
"""


def bench_arguments(doc: str) -> argparse.ArgumentParser:
    """The options of the layer benchmarks (this one and ``pack.py``): ``--cache`` and ``--runs``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cache", type=Path, default=Path("/var/tmp/berth-bench"), help="cache/work directory"
    )
    parser.add_argument("--runs", type=int, default=1)
    return parser


def main() -> None:
    parser = bench_arguments(__doc__)
    parser.add_argument("--work", type=Path, help="where to unpack (default: CACHE/work; try /dev/shm/x)")
    args = parser.parse_args()
    cache: Path = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    layer = ensure_layer(cache)
    layout = _oci_layout(cache, layer)
    work = args.work.resolve() if args.work else cache / "work"
    size = layer.stat().st_size
    with open(layer, "rb") as f:  # warm the page cache so every tool reads from memory
        while f.read(1 << 24):
            pass
    print(f"layer: {layer} ({size / 1e6:.0f} MB compressed), unpacked under {work}")
    tools: dict[str, list[float]] = {"berth": [], "tar": [], "umoci": []}
    rss: dict[str, int] = {}
    for _ in range(args.runs):
        for tool in tools:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            subprocess.run(["sync"], check=True)
            if tool == "berth":
                (work / "root").mkdir()
                t, peak = run_measured([sys.executable, "-c", _BERTH, str(layer), str(work / "root")])
            elif tool == "tar":
                t, peak = run_measured(["tar", "-xzf", str(layer), "-C", str(work)])
            else:
                t, peak = run_measured(
                    ["umoci", "unpack", "--image", f"{layout}:bench", str(work / "bundle")]
                )
            tools[tool].append(t)
            rss[tool] = max(rss.get(tool, 0), peak)
    shutil.rmtree(work, ignore_errors=True)
    best = {tool: min(times) for tool, times in tools.items()}
    print(f"{'tool':8} {'best s':>8} {'peak RSS MiB':>13} {'vs tar':>7}")
    for tool, t in best.items():
        print(f"{tool:8} {t:8.2f} {rss[tool] / 1024:13.1f} {t / best['tar']:7.2f}")


if __name__ == "__main__":
    main()
