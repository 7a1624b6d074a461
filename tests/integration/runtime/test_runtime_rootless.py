"""berth-runtime run by an unprivileged user (``nobody``) on a ``spec --rootless`` bundle.

The user namespace maps the caller alone; no cgroup can be made (cgroup v1 here), so a container
without limits runs without one and one asking for limits is refused. The state goes under
``$XDG_RUNTIME_DIR/berth-runtime`` as runc's goes under ``$XDG_RUNTIME_DIR/runc``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.verbs.spec import default_config
from tests.busybox import make_rootfs
from tests.integration.runtime.conftest import RUNTIME

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]

NOBODY = 65534


class Rootless:
    """Runs berth-runtime as ``nobody`` in a directory that user can reach."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.rootfs = make_rootfs(top / "rootfs")
        self.env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(top / "xdg")}
        self.count = 0

    def config(self, args: list[str]) -> dict[str, Any]:
        config = default_config(rootless=True)
        config["root"]["path"] = str(self.rootfs)
        config["process"]["terminal"] = False
        config["process"]["args"] = args
        for key in ("uidMappings", "gidMappings"):
            config["linux"][key] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
        return config

    def bundle(self, config: dict[str, Any]) -> Path:
        self.count += 1
        path = self.top / f"bundle{self.count}"
        path.mkdir()
        (path / "config.json").write_text(json.dumps(config))
        return path

    def __call__(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(
            [RUNTIME, *args], user=NOBODY, group=NOBODY, extra_groups=[], env=self.env, cwd=self.top,
            text=True, timeout=30, check=False, **kw,
        )  # fmt: skip

    def state_dir(self) -> Path:
        return self.top / "xdg" / "berth-runtime"


@pytest.fixture
def rootless() -> Iterator[Rootless]:
    # tmp_path lies under a directory only root may enter, so the bundle goes elsewhere in /tmp.
    top = Path(tempfile.mkdtemp(prefix="berth-rootless-"))
    top.chmod(0o755)
    (top / "xdg").mkdir(mode=0o700)
    os.chown(top / "xdg", NOBODY, NOBODY)
    rl = Rootless(top)
    try:
        if rl("--version").returncode != 0:
            pytest.skip("berth-runtime in this checkout is not reachable by an unprivileged user")
        yield rl
    finally:
        if rl.state_dir().is_dir():
            for cid in os.listdir(rl.state_dir()):
                rl("delete", "--force", cid)
        shutil.rmtree(top)


def test_run_maps_the_caller_to_root_without_a_cgroup(rootless: Rootless) -> None:
    config = rootless.config(["sh", "-c", "id -u; cat /proc/self/uid_map; echo $$"])
    done = rootless("run", "--bundle", str(rootless.bundle(config)), "r1")
    assert done.returncode == 0, done.stderr
    uid, uid_map, pid = done.stdout.splitlines()
    assert uid == "0" and uid_map.split() == ["0", str(NOBODY), "1"] and pid == "1"
    assert os.listdir(rootless.state_dir()) == []


def test_lifecycle_and_exec(rootless: Rootless) -> None:
    bundle = rootless.bundle(rootless.config(["sleep", "60"]))
    # The init inherits the runtime's stdio: a pipe there would stay open as long as it runs.
    created = rootless(
        "create", "--bundle", str(bundle), "r1", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert created.returncode == 0
    assert rootless("start", "r1").returncode == 0
    state = json.loads(rootless("state", "r1").stdout)
    assert state["status"] == "running"
    assert os.stat(f"/proc/{state['pid']}").st_uid == NOBODY
    execd = rootless("exec", "r1", "sh", "-c", "id -u; echo $$")
    assert execd.returncode == 0 and execd.stdout.splitlines()[0] == "0", execd.stderr
    assert rootless("kill", "r1", "KILL").returncode == 0
    deleted = rootless("delete", "--force", "r1")
    assert deleted.returncode == 0, deleted.stderr
    assert os.listdir(rootless.state_dir()) == []


def test_limits_without_a_writable_cgroup_are_refused(rootless: Rootless) -> None:
    config = rootless.config(["true"])
    config["linux"]["resources"] = {"memory": {"limit": 32 * 1024 * 1024}}
    done = rootless("run", "--bundle", str(rootless.bundle(config)), "r1")
    assert done.returncode != 0
    assert done.stderr.startswith("berth-runtime: linux.resources.memory: limits need a cgroup")
    assert len(done.stderr.splitlines()) == 1
    assert os.listdir(rootless.state_dir()) == []
    forced = rootless("--rootless", "false", "--root", str(rootless.state_dir()), "run", "--bundle",
                      str(rootless.bundle(rootless.config(["true"]))), "r2")  # fmt: skip
    assert forced.returncode != 0 and "cannot create cgroup" in forced.stderr
