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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.busybox import make_rootfs

IMAGE = "localhost/berth-bench/busybox:latest"


def store_image(root: Path, rootfs: Path) -> None:
    """Pack ``rootfs`` into one layer and record it as IMAGE in Berth's store at ``root``."""
    from berth.image.images import ImageStore
    from berth.image.layers import Compression, pack_tree
    from berth.image.store import ContentStore
    from berth.spec import mediatypes as mt
    from berth.spec.descriptor import Descriptor
    from berth.spec.image_config import ContainerConfig, ImageConfig
    from berth.spec.manifest import ImageManifest
    from berth.spec.platform import host

    content = ContentStore(root / "images")
    try:
        with content.writer("bench-layer") as w:
            packed = pack_tree(rootfs, w, Compression.GZIP)
            w.commit(packed.size, packed.digest)
        me = host()
        config = ImageConfig(
            me.architecture, me.os, (packed.diff_id,), ContainerConfig(cmd=("sh",)), variant=me.variant
        )
        content.put(config.to_bytes())
        manifest = ImageManifest(
            Descriptor.of(mt.OCI_CONFIG, config.to_bytes()),
            (Descriptor(packed.media_type, packed.digest, packed.size),),
        )
        content.put(manifest.to_bytes())
        ImageStore(content).put(IMAGE, manifest.descriptor())
    finally:
        content.close()


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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", default="runc", help="Berth's runtime (podman always uses runc)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-run-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    berth_env = {
        **env,
        "BERTH_ROOT": str(work / "berth"),
        "BERTH_RUNROOT": str(work / "berth-run"),
        "BERTH_RUNTIME": args.runtime,
        "BERTH_CONFIG": str(work / "none.toml"),
    }
    podman = [
        "podman",
        "--root",
        str(work / "podman"),
        "--runroot",
        str(work / "podman-run"),
        "--runtime",
        "runc",
    ]
    # podman asks for RLIMIT_NOFILE 1048576 (and a large RLIMIT_NPROC), above this host's hard
    # limits (no CAP_SYS_RESOURCE here); Berth lowers its default by itself, podman is told to.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ulimit = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]
    try:
        store_image(work / "berth", make_rootfs(work / "rootfs"))
        berth = [sys.executable, "-m", "berth.cli.main"]
        subprocess.run(
            [*berth, "copy", "-q", f"berth:{IMAGE}", f"oci:{work / 'layout'}:latest"],
            env=berth_env,
            check=True,
        )
        subprocess.run(
            [*podman, "pull", "-q", f"oci:{work / 'layout'}:latest"], env=env, check=True, capture_output=True
        )
        podman_image = subprocess.run(
            [*podman, "images", "-q"], env=env, check=True, capture_output=True, text=True
        ).stdout.split()[0]
        berth_run = [*berth, "run", "--rm", IMAGE, "true"]
        podman_run = [*podman, "run", "--rm", *ulimit, podman_image, "true"]
        timed(berth_run, berth_env), timed(podman_run, env)  # warm-up (and Python bytecode)
        berth_times, podman_times = [], []
        for _ in range(args.runs):
            berth_times.append(timed(berth_run, berth_env))
            podman_times.append(timed(podman_run, env))
        b, p = statistics.median(berth_times), statistics.median(podman_times)
        label = f"berth ({args.runtime})"
        print(f"{label} run --rm IMAGE true  median {b * 1000:7.1f} ms  (runs: {_ms(berth_times)})")
        print(f"podman (runc) run --rm IMAGE true  median {p * 1000:7.1f} ms  (runs: {_ms(podman_times)})")
        print(f"ratio berth/podman          {b / p:.2f}")
    finally:
        subprocess.run([*podman, "rm", "-a", "-f"], env=env, capture_output=True)
        subprocess.run([*podman, "rmi", "-a", "-f"], env=env, capture_output=True)
        subprocess.run(["umount", "-R", str(work / "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
