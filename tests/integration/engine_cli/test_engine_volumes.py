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


def _volume_with_setuid_and_device(berth: Berth, name: str) -> None:
    """Volume ``name`` holding a setuid-root busybox and a null device node, made on the host."""
    import os
    import shutil
    import stat

    berth("volume", "create", name)
    data = Path(json.loads(berth("volume", "inspect", name).stdout)[0]["Mountpoint"])
    shutil.copy(berth.rootfs / "bin" / "busybox", data / "busybox")
    os.chmod(data / "busybox", 0o4755)
    os.mknod(data / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))


#: busybox's su refuses to run without root as its effective user, and asks for a password with it.
_SU = "/v/busybox su -c true </dev/null 2>&1; cat /v/null && echo opened"


def test_named_volumes_are_nosuid_and_nodev_unless_asked(berth: Berth) -> None:
    _volume_with_setuid_and_device(berth, "tools")
    plain = berth.run(
        "--rm", "--network", "none", "--user", "1000", "-v", "tools:/v", "--", "sh", "-c", _SU, check=False
    )
    assert "must be suid to work properly" in plain.stdout  # the setuid bit gave no privileges
    assert "opened" not in plain.stdout and "Permission denied" in plain.stderr
    allowed = berth.run(
        "--rm", "--network", "none", "--user", "1000", "-v", "tools:/v:suid,dev", "--", "sh", "-c", _SU
    )
    assert "incorrect password" in allowed.stdout and "opened" in allowed.stdout
    unexec = berth.run(
        "--rm", "--network", "none", "-v", "tools:/v:noexec", "--", "sh", "-c", "/v/busybox true", check=False
    )
    assert unexec.returncode == 126
    conflict = berth.run("--network", "none", "-v", "tools:/v:suid,nosuid", "--", "true", check=False)
    assert conflict.returncode == 125 and "only one of suid, nosuid" in conflict.stderr
    made = berth(
        "create",
        "--name",
        "shown",
        "--network",
        "none",
        "-v",
        "tools:/v:ro",
        "--rootfs",
        str(berth.rootfs),
        "true",
    )
    doc = berth.inspect(made.stdout.strip())
    assert doc["HostConfig"]["Binds"] == ["tools:/v:ro,rprivate,nosuid,nodev,rbind"]


def test_a_bind_mount_keeps_its_sources_flags(berth: Berth, tmp_path: Path) -> None:
    import subprocess

    source = tmp_path / "restricted"
    source.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,size=1m", "berth-test", str(source)], check=True
    )
    try:
        shown = berth.run(
            "--rm", "--network", "none", "-v", f"{source}:/b", "--", "grep", " /b ", "/proc/self/mountinfo"
        )
        flags = shown.stdout.split()[5].split(",")
        assert {"nosuid", "nodev", "noexec"} <= set(flags)
        lifted = berth.run(
            "--rm",
            "--network",
            "none",
            "-v",
            f"{source}:/b:exec",
            "--",
            "grep",
            " /b ",
            "/proc/self/mountinfo",
        )
        assert "noexec" not in lifted.stdout.split()[5].split(",")
    finally:
        subprocess.run(["umount", str(source)], check=True)
