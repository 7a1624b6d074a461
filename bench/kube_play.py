"""How long do ``berth kube play`` and ``berth kube down`` of issue 11's two-container pod take,
beside ``podman kube play`` and ``podman kube down``?

The manifest is the issue's (a pod ``cloud-native-app`` with two annotations, an app with
``containerPort: 8080`` and a sidecar), its two images made here from Debian's busybox-static and
imported into each engine alike: ``httpd`` serving on 8080, and a sidecar fetching
``http://localhost:8080`` in a loop. One run is ``kube play FILE`` then ``kube down FILE``. Each
engine runs once to warm caches, then ``--runs`` times alternately; the medians of the wall time
and of the CPU time of every process a run made (this script is a child subreaper, so monitors and
conmon are counted) are printed, with their ratio and the machine's load. podman runs on runc from
its own storage, as berth does.
Run as root: ``uv run python bench/kube_play.py [--runs 11]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_run import Engines, Timings, become_subreaper, engines, report, timed
from tests.busybox import make_rootfs
from tests.unit.kube.test_manifest import CLOUD_NATIVE_APP

# the manifest, its two images replaced by ones made here
MANIFEST = CLOUD_NATIVE_APP.replace("myapp:latest", "localhost/bench/app:1").replace(
    "envoyproxy/envoy:latest", "localhost/bench/sidecar:1"
)

#: ``import --change`` lines of the two images (podman's import sets no PATH by itself).
IMAGES = {
    "localhost/bench/app:1": 'CMD ["httpd", "-f", "-p", "8080", "-h", "/etc"]',
    "localhost/bench/sidecar:1": (
        'CMD ["sh", "-c", "while true; do wget -qO- http://localhost:8080/passwd; sleep 1; done"]'
    ),
}
PATH_ENV = "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin"


def podman_env(e: Engines) -> dict[str, str]:
    """podman's environment, with a containers.conf asking for no ulimits: its default ones are
    above this host's hard limits (``bench/engine_run.py`` passes ``--ulimit`` instead)."""
    conf = e.work / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**e.env, "CONTAINERS_CONF": str(conf)}


def podman_argv(e: Engines) -> list[str]:
    """podman with its own ``--tmpdir``: the default, /run/libpod, is shared with every other
    podman on the host (its exit files among them), and a concurrent one has left a pod running
    after ``kube down`` said it was removed."""
    return [*e.podman, "--tmpdir", str(e.work / "podman-tmp")]


def import_images(e: Engines, podman: dict[str, str]) -> None:
    """The two images, from one busybox tarball, into both engines' stores."""
    tarball = e.work / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(make_rootfs(e.work / "rootfs"), arcname=".")
    for name, cmd in IMAGES.items():
        for argv, env in ((e.berth, e.berth_env), (podman_argv(e), podman)):
            subprocess.run([*argv, "import", "-c", PATH_ENV, "-c", cmd, str(tarball), name],
                           env=env, check=True, capture_output=True)  # fmt: skip


@dataclass
class Side:
    """One engine's command and environment, and its times: play and down together, and each."""

    argv: list[str]
    env: dict[str, str]
    both: Timings = field(default_factory=Timings)
    play: Timings = field(default_factory=Timings)
    down: Timings = field(default_factory=Timings)

    def play_and_down(self, manifest: Path) -> None:
        """``kube play`` then ``kube down`` of ``manifest``, timed."""
        play = timed([*self.argv, "kube", "play", str(manifest)], self.env)
        down = timed([*self.argv, "kube", "down", str(manifest)], self.env)
        self.play.add(*play)
        self.down.add(*down)
        self.both.add(play[0] + down[0], play[1] + down[1])


def _ratios(label: str, berth: Timings, podman: Timings) -> None:
    b = report(f"berth {label}", berth)
    p = report(f"podman {label}", podman)
    cpu = statistics.median(berth.cpu) / statistics.median(podman.cpu)
    print(f"ratio berth/podman       {b / p:.2f}, CPU {cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    become_subreaper()
    with engines("berth-bench-kube-") as e:
        podman = podman_env(e)
        import_images(e, podman)
        manifest = e.work / "app.yaml"
        manifest.write_text(MANIFEST)
        engines_ = [(e.berth, e.berth_env), (podman_argv(e), podman)]
        berth, podman_side = (Side(*spec) for spec in engines_)
        try:
            for spec in engines_:  # warm-up, its times thrown away
                Side(*spec).play_and_down(manifest)
            for _ in range(args.runs):
                for side in (berth, podman_side):
                    side.play_and_down(manifest)
        finally:  # a failed run's pods (engines() removes containers, not pods)
            for side in (berth, podman_side):
                subprocess.run([*side.argv, "pod", "rm", "-a", "-f"], env=side.env, capture_output=True)
        print(f"kube play + kube down of the issue's two-container pod, {args.runs} runs each, alternating")
        _ratios("play+down", berth.both, podman_side.both)
        _ratios("play", berth.play, podman_side.play)
        _ratios("down", berth.down, podman_side.down)
        print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
