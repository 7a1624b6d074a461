"""podman pulls from and pushes to ``berth registry serve``."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.registry_server.peers import run, serve_cli, write_oci_layout

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


@pytest.fixture
def runroot() -> Iterator[Path]:
    # podman refuses a runroot longer than 50 characters; pytest's tmp_path is longer.
    path = Path(tempfile.mkdtemp(prefix="berth-podman-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def podman(tmp_path: Path, runroot: Path, *args: str) -> str:
    # A private store on vfs: nothing is mounted, nothing touches the host's podman state.
    return run(
        "podman",
        "--root",
        str(tmp_path / "podman-root"),
        "--runroot",
        str(runroot),
        "--storage-driver",
        "vfs",
        "--events-backend",
        "file",
        *args,
    )


def test_podman_pull_and_push(tmp_path: Path, runroot: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    digest = write_oci_layout(layout, files={"greeting": b"hi podman\n"})
    with serve_cli(tmp_path / "root") as addr:
        run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{addr}/berth/src:v1")
        podman(tmp_path, runroot, "pull", "--tls-verify=false", f"{addr}/berth/src:v1")
        images = json.loads(podman(tmp_path, runroot, "images", "--format", "json"))
        assert any(f"{addr}/berth/src:v1" in (image.get("Names") or []) for image in images)
        podman(tmp_path, runroot, "tag", f"{addr}/berth/src:v1", f"{addr}/berth/copy:pushed")
        podman(tmp_path, runroot, "push", "--tls-verify=false", f"{addr}/berth/copy:pushed")
        tags = json.loads(urllib.request.urlopen(f"http://{addr}/v2/berth/copy/tags/list").read())
        assert tags == {"name": "berth/copy", "tags": ["pushed"]}
        podman(tmp_path, runroot, "rmi", "--all", "--force")
        podman(tmp_path, runroot, "pull", "--tls-verify=false", f"{addr}/berth/copy:pushed")
        assert digest.startswith("sha256:")
