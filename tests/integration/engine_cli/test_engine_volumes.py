"""Bind mounts and named volumes: data outlives the container that wrote it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def test_bind_mount_outlives_the_container(berth: Berth, tmp_path: Path) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    berth.run("--rm", "--network", "none", "-v", f"{host}:/data", "--", "sh", "-c", "echo kept > /data/f")
    assert (host / "f").read_text() == "kept\n"
    ro = berth.run(
        "--rm",
        "--network",
        "none",
        "-v",
        f"{host}:/data:ro",
        "--",
        "sh",
        "-c",
        "echo x > /data/g 2>/dev/null || echo refused",
    )
    assert ro.stdout == "refused\n" and not (host / "g").exists()


def test_named_volume_lifecycle(berth: Berth) -> None:
    berth("volume", "create", "berthvol")
    berth.run(
        "--name",
        "writer",
        "--network",
        "none",
        "-v",
        "berthvol:/v",
        "--",
        "sh",
        "-c",
        "echo persisted > /v/f",
    )
    in_use = berth("volume", "rm", "berthvol", check=False)
    assert in_use.returncode == 125 and "in use" in in_use.stderr
    berth("rm", "writer")
    out = berth.run("--rm", "--network", "none", "-v", "berthvol:/v", "--", "cat", "/v/f")
    assert out.stdout == "persisted\n"
    doc = json.loads(berth("volume", "inspect", "berthvol").stdout)[0]
    assert Path(doc["Mountpoint"], "f").read_text() == "persisted\n" and doc["UsedBy"] == []
    assert berth("volume", "ls", "-q").stdout.split() == ["berthvol"]
    berth("volume", "rm", "berthvol")
    assert berth("volume", "ls", "-q").stdout == ""


def test_volume_made_on_first_use(berth: Berth) -> None:
    berth.run("--rm", "--network", "none", "-v", "berthauto:/v", "--", "touch", "/v/x")
    assert berth("volume", "ls", "-q").stdout.split() == ["berthauto"]


def test_volume_rm_force_removes_its_containers(berth: Berth) -> None:
    berth.run("-d", "--name", "holder", "--network", "none", "-v", "berthforce:/v", "--", "sleep", "60")
    missing = berth("volume", "rm", "-f", "berthnone", check=False)
    assert missing.returncode == 125 and berth("ps", "-aq").stdout.strip()  # nothing touched
    berth("volume", "rm", "-f", "berthforce")
    assert berth("volume", "ls", "-q").stdout == "" and berth("ps", "-aq").stdout == ""
