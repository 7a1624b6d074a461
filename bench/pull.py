"""How fast does Berth pull from a registry, beside skopeo?

Builds an image with one 256 MiB layer and twenty 1 MiB layers (random bytes, so nothing compresses),
pushes it to a docker-registry on 127.0.0.1, then times, in the same run and alternating,
``berth copy docker://... oci:DIR`` and ``skopeo copy docker://... oci:DIR`` into fresh directories.
Both run as commands, so both pay their start-up. Prints each run, the medians and the ratio.

    uv run python bench/pull.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import make_random_layout


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    berth = shutil.which("berth", path=str(Path(sys.executable).parent)) or "berth"
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        work = Path(tmp)
        make_random_layout(work / "src", "bench", [256 << 20] + [1 << 20] * 20)
        with DockerRegistry(work / "registry") as registry:
            ref = f"docker://{registry.host}/bench/image:1"
            subprocess.run(
                [berth, "copy", "-q", "--tls-verify=false", f"oci:{work / 'src'}:bench", ref], check=True
            )
            results: dict[str, list[float]] = {"berth": [], "skopeo": []}
            for i in range(args.runs):
                for tool in ("berth", "skopeo"):
                    dest = work / f"{tool}-{i}"
                    if tool == "berth":
                        cmd = [berth, "copy", "-q", "--tls-verify=false", ref, f"oci:{dest}:bench"]
                    else:
                        cmd = ["skopeo", "copy", "-q", "--src-tls-verify=false", ref, f"oci:{dest}:bench"]
                    seconds = timed(cmd)
                    results[tool].append(seconds)
                    print(f"run {i + 1}: {tool:6} {seconds:6.2f} s")
                    shutil.rmtree(dest)
    berth_s, skopeo_s = statistics.median(results["berth"]), statistics.median(results["skopeo"])
    print(f"median: berth {berth_s:.2f} s, skopeo {skopeo_s:.2f} s, berth/skopeo = {berth_s / skopeo_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
