"""How fast does Berth copy a signed image under a sigstoreSigned policy, beside upstream skopeo?

Builds an image of 21 layers (one of ``--big-mib`` MiB and twenty of 1 MiB, random bytes), pushes it
to Berth's registry on 127.0.0.1 and signs it with ``berth sign`` (cosign's format). Then, in the same
run and alternating, ``berth copy`` and upstream skopeo's ``copy`` (``--src-tls-verify=false
--remove-signatures``) take it to ``oci:`` in fresh directories, each under the same policy.json
(``sigstoreSigned`` with the public key) and registries.d (``use-sigstore-attachments: true``).
Both run as commands and pay their start-up. Prints each run's wall and CPU time (the children's
user + system time: steadier than wall time on a shared machine), the medians and the ratios.

    BERTH_UPSTREAM_SKOPEO=/path/to/skopeo uv run python bench/trust_pull.py [--runs 5] [--big-mib 256]
"""

from __future__ import annotations

import argparse
import json
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

from tests.integration.registry_client.images import make_random_layout
from tests.integration.registry_server.peers import serve_cli


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``cmd``."""
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start, children_cpu() - cpu


def setup(work: Path, berth: str, ref: str, env: dict[str, str]) -> tuple[Path, Path]:
    """Sign the pushed image; write the policy and registries.d both tools use."""
    subprocess.run([berth, "key", "generate", "--output-prefix", str(work / "key")], check=True, env=env)
    subprocess.run([berth, "sign", "--tls-verify=false", "--key", str(work / "key.private"), ref],
                   check=True, env=env)  # fmt: skip
    policy = work / "policy.json"
    req = {"type": "sigstoreSigned", "keyPath": str(work / "key.pub")}
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                  "transports": {"docker": {"": [req]}}}))  # fmt: skip
    registries_d = work / "registries.d"
    registries_d.mkdir()
    (registries_d / "sigstore.yaml").write_text("default-docker:\n  use-sigstore-attachments: true\n")
    return policy, registries_d


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-mib", type=int, default=256, help="size of the one large layer")
    parser.add_argument("--skopeo", default=os.environ.get("BERTH_UPSTREAM_SKOPEO"), help="upstream skopeo")
    args = parser.parse_args()
    if not args.skopeo:
        parser.error("name an upstream skopeo with --skopeo or BERTH_UPSTREAM_SKOPEO")
    berth = shutil.which("berth", path=str(Path(sys.executable).parent)) or "berth"
    env = {**os.environ, "COSIGN_PASSWORD": "bench"}
    with tempfile.TemporaryDirectory(prefix="berth-bench-trust-") as tmp:
        work = Path(tmp)
        make_random_layout(work / "src", "bench", [args.big_mib << 20] + [1 << 20] * 20)
        with serve_cli(work / "registry") as host:
            ref = f"docker://{host}/bench/signed:1"
            subprocess.run([berth, "copy", "-q", "--tls-verify=false", f"oci:{work / 'src'}:bench", ref],
                           check=True, env=env)  # fmt: skip
            policy, registries_d = setup(work, berth, ref, env)
            commands = {
                "berth": [berth, "copy", "-q", "--tls-verify=false", "--signature-policy", str(policy),
                          "--registries.d", str(registries_d), ref],
                "skopeo": [args.skopeo, "--policy", str(policy), "--registries.d", str(registries_d), "copy",
                           "-q", "--src-tls-verify=false", "--remove-signatures", ref],
            }  # fmt: skip
            wall: dict[str, list[float]] = {"berth": [], "skopeo": []}
            cpu: dict[str, list[float]] = {"berth": [], "skopeo": []}
            for i in range(args.runs):
                for tool, cmd in commands.items():
                    dest = work / f"{tool}-{i}"
                    seconds, used = timed([*cmd, f"oci:{dest}:bench"], env)
                    wall[tool].append(seconds)
                    cpu[tool].append(used)
                    print(f"run {i + 1}: {tool:6} {seconds:6.2f} s wall {used:6.2f} s CPU")
                    shutil.rmtree(dest)
    for name, table in (("wall", wall), ("CPU", cpu)):
        ours, theirs = statistics.median(table["berth"]), statistics.median(table["skopeo"])
        print(f"median {name}: berth {ours:.2f} s, skopeo {theirs:.2f} s, berth/skopeo = {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
