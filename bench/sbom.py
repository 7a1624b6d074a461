"""Is ``berth sbom`` of a Debian image faster than unpacking its layers?

An SBOM is a read of the layers, not an unpack, so it should cost no more than ``tar -xzf`` of the
same layers to a tmpfs. The image is a bookworm minbase root made by ``mmdebstrap`` (cached for the
day under ``--cache``), imported with ``berth import`` into a temporary storage root. Each command
runs once to warm caches, then ``--runs`` times alternately; medians and their ratio are printed,
with the machine's load. Run as root: ``uv run python bench/sbom.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def debian_root(cache: Path) -> Path:
    """The day's mmdebstrap tarball, made if missing (the same cache the tests use)."""
    cache.mkdir(parents=True, exist_ok=True)
    tar = cache / f"mmdebstrap-bookworm-minbase-{datetime.date.today()}.tar"
    if not tar.exists():
        partial = tar.with_suffix(".partial.tar")
        subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", str(partial)], check=True)
        partial.rename(tar)
    return tar


def layer_blobs(images_root: Path, image: str) -> list[Path]:
    """The files of ``image``'s layer blobs in the store at ``images_root``, base layer first."""
    from berth.image.images import ImageStore

    store = ImageStore(images_root)
    try:
        return [store.content.blob_path(layer.digest) for layer in store.resolve(image).manifest.layers]
    finally:
        store.close()


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` took; exits the benchmark if it failed."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path("/var/cache/berth-test"))
    args = parser.parse_args()
    berth = str(Path(sys.executable).with_name("berth"))
    work = Path(tempfile.mkdtemp(prefix="berth-bench-sbom-"))
    unpacked = Path(tempfile.mkdtemp(prefix="berth-bench-sbom-", dir="/dev/shm"))
    env = {**os.environ, "BERTH_ROOT": str(work / "root"), "BERTH_RUNROOT": str(work / "run")}
    try:
        image = "localhost/bench/bookworm:minbase"
        subprocess.run([berth, "import", str(debian_root(args.cache)), image], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        layer_files = layer_blobs(work / "root" / "images", image)
        sbom = [berth, "sbom", image, "--format", "spdx-json"]

        def untar() -> float:
            start = time.perf_counter()
            for blob in layer_files:
                subprocess.run(["tar", "-xzf", str(blob), "-C", str(unpacked)], check=True)
            elapsed = time.perf_counter() - start
            shutil.rmtree(unpacked)
            unpacked.mkdir()
            return elapsed

        timed(sbom, env), untar()
        berth_times, tar_times = [], []
        for _ in range(args.runs):
            berth_times.append(timed(sbom, env))
            tar_times.append(untar())
        b, t = statistics.median(berth_times), statistics.median(tar_times)
        print(f"berth sbom (spdx-json)     median {b * 1000:7.1f} ms")
        print(f"tar -xzf to a tmpfs        median {t * 1000:7.1f} ms  ({len(layer_files)} layer(s))")
        print(f"ratio berth/tar            {b / t:.2f}   (load average {os.getloadavg()[0]:.2f})")
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
