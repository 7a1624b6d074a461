"""``berth events`` beside ``podman events`` (podman 4.3, ``events_logger = "file"``): one sequence of
commands run by each engine gives the same kinds of event with the same fields."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth, berth, busybox_root, host_network_unchanged

__all__ = ["berth", "busybox_root", "host_network_unchanged"]

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]

#: The commands, as arguments after ``podman``/``berth`` (IMAGE is the busybox image's name).
SEQUENCE = [
    ["run", "--name", "short", "--network", "none", "IMAGE", "sh", "-c", "exit 3"],
    ["rm", "short"],
    ["run", "-d", "--name", "long", "--network", "none", "IMAGE", "sleep", "100"],
    ["exec", "long", "true"],
    ["pause", "long"],
    ["unpause", "long"],
    ["rename", "long", "longer"],
    ["kill", "longer"],
    ["rm", "-f", "longer"],
    ["volume", "create", "vol1"],
    ["volume", "rm", "vol1"],
    ["tag", "IMAGE", "localhost/second:1"],
    ["rmi", "localhost/second:1"],
]


def _kinds(lines: str) -> set[tuple[str, str, tuple[str, ...]]]:
    events = [json.loads(line) for line in lines.splitlines()]
    return {(e["Type"], e["Status"], tuple(sorted(e))) for e in events}


@pytest.fixture
def podman_cmd(tmp_path: Path) -> Iterator[list[str]]:
    runroot = Path(tempfile.mkdtemp(prefix="berth-podman-"))  # podman wants a short runroot
    conf = tmp_path / "containers.conf"
    log = tmp_path / "podman-events.log"
    engine = f'[engine]\nevents_logger = "file"\nevents_logfile_path = "{log}"\n'
    conf.write_text("[containers]\ndefault_ulimits = []\n" + engine)
    os.environ["CONTAINERS_CONF"] = str(conf)
    cmd = ["podman", "--root", str(tmp_path / "podman-root"), "--runroot", str(runroot), "--runtime", "runc",
           "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]  # fmt: skip
    try:
        yield cmd
    finally:
        subprocess.run([*cmd, "rm", "-a", "-f"], capture_output=True)
        subprocess.run([*cmd, "rmi", "-a", "-f"], capture_output=True)
        del os.environ["CONTAINERS_CONF"]
        shutil.rmtree(runroot, ignore_errors=True)


def test_same_kinds_of_event_with_the_same_fields(
    berth: Berth, podman_cmd: list[str], tmp_path: Path
) -> None:
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(berth.rootfs, arcname=".")
    for run in (lambda *a: subprocess.run([*podman_cmd, *a], capture_output=True, text=True, timeout=120),
                lambda *a: berth(*a, check=False)):  # fmt: skip
        assert run("import", str(tar), "localhost/events-test:1").returncode == 0
        for args in SEQUENCE:
            done = run(*[a.replace("IMAGE", "localhost/events-test:1") for a in args])
            assert done.returncode == (3 if args[:3] == ["run", "--name", "short"] else 0), done.stderr
    podman = subprocess.run([*podman_cmd, "events", "--stream=false", "--format", "json"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    ours = berth("events", "--stream=false", "--format", "json").stdout
    # podman records a "pull" whenever run finds its image already stored; Berth only when it pulls.
    theirs = {kind for kind in _kinds(podman) if kind[:2] != ("image", "pull")}
    assert _kinds(ours) == theirs
