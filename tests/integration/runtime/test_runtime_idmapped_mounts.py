"""Idmapped bind mounts (config.md#mounts uidMappings/gidMappings, options idmap and ridmap).

The source holds a file owned by root and one owned by uid/gid 1000. Through a mount idmapped with
``0 1000 1`` the root-owned file shows as 1000 and the other, whose id the mapping lacks, as the
overflow id 65534 (mount_setattr(2), "Idmapped mounts").
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.busybox import make_rootfs
from tests.integration.runtime.conftest import Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]

ONE_TO_1000 = [{"containerID": 0, "hostID": 1000, "size": 1}]


@pytest.fixture
def source() -> Iterator[Path]:
    """A directory other users may reach (pytest's tmp is 0700) with two files of known owners."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        os.chmod(tmp, 0o755)
        (Path(tmp) / "root-owned").write_text("hi\n")
        (Path(tmp) / "user-owned").write_text("")
        os.chown(Path(tmp) / "user-owned", 1000, 1000)
        yield Path(tmp)


def _bind(source: Path, *options: str, **mappings: Any) -> dict[str, Any]:
    return {"destination": "/mnt", "type": "bind", "source": str(source), "options": ["rbind", *options],
            **mappings}  # fmt: skip


def test_a_mount_with_its_own_mappings(runtime: Runtime, source: Path) -> None:
    config = base_config(runtime.rootfs, ["sh", "-c", "stat -c '%n %u %g' /mnt/*; cat /mnt/root-owned"])
    config["mounts"].append(_bind(source, "ro", "idmap", uidMappings=ONE_TO_1000, gidMappings=ONE_TO_1000))
    done = runtime.run(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/mnt/root-owned 1000 1000", "/mnt/user-owned 65534 65534", "hi"]
    assert os.stat(source / "root-owned").st_uid == 0  # the files themselves are unchanged


def test_a_mount_takes_the_containers_user_namespace_mapping(runtime: Runtime, source: Path) -> None:
    # Root of the container is host uid 100000; idmapped with the same mapping, files root owns on
    # the host are the container root's, while the plain bind mount shows them as nobody's.
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        os.chmod(tmp, 0o755)
        rootfs = make_rootfs(Path(tmp) / "rootfs")
        for mount_point in ("mnt", "plain"):  # container root (host 100000) may not make them
            (rootfs / mount_point).mkdir(exist_ok=True)
        config = base_config(rootfs, ["stat", "-c", "%n %u", "/mnt/root-owned", "/plain/root-owned"])
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["mounts"].append(_bind(source, "idmap"))
        config["mounts"].append(_bind(source) | {"destination": "/plain"})
        done = runtime.run(config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/mnt/root-owned 0", "/plain/root-owned 65534"]


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
          "uidMappings": ONE_TO_1000, "gidMappings": ONE_TO_1000},
         r"mounts\[\d+\] \(/mnt\): idmapped mounts are supported for bind mounts only"),
        ({"destination": "/mnt", "type": "bind", "source": "/nonexistent-berth", "options": ["bind", "idmap"],
          "uidMappings": ONE_TO_1000, "gidMappings": ONE_TO_1000},
         r"\(/mnt\): source '/nonexistent-berth': open_tree: No such file"),
        ({"destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]},
         r"idmap needs uidMappings and gidMappings, or a user namespace"),
        ({"destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["bind"],
          "uidMappings": ONE_TO_1000}, r"mounts\[\d+\].uidMappings: uidMappings and gidMappings go together"),
    ],
)  # fmt: skip
def test_bad_idmapped_mounts_fail_with_one_line(
    runtime: Runtime, mount: dict[str, Any], message: str
) -> None:
    config = base_config(runtime.rootfs, ["true"])
    config["mounts"].append(mount)
    done = runtime.run(config)
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1
    assert re.search(message, done.stderr), done.stderr
    assert not runtime.root.exists() or os.listdir(runtime.root) == []
