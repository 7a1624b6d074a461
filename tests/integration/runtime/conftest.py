"""Fixtures for real-kernel runtime tests: a shared busybox rootfs, bundles, and a runtime driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.verbs.spec import default_config
from tests.busybox import make_rootfs
from tests.integration.runtime_cgroups.children import unique_name

RUNTIME = str(Path(sys.executable).parent / "berth-runtime")

if os.geteuid() != 0:
    pytest.skip("runtime integration tests need root", allow_module_level=True)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One busybox root filesystem shared by every test's bundle (containers get a read-only root)."""
    root = make_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")
    # A copy of busybox that is not the applet target, for tests that need an exact executable path.
    os.link(root / "bin/busybox", root / "bin/bb")
    return root


def base_config(rootfs: Path, args: list[str]) -> dict[str, Any]:
    """runc's default spec without a terminal, running ``args`` in ``rootfs``."""
    config = default_config()
    config["root"]["path"] = str(rootfs)
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    return config


class Runtime:
    """Drives the ``berth-runtime`` executable with a private ``--root``; deletes leftovers at the end."""

    def __init__(self, tmp: Path, rootfs: Path) -> None:
        self.tmp = tmp
        self.rootfs = rootfs
        self.root = tmp / "state"
        self.count = 0

    def bundle(self, config: dict[str, Any]) -> Path:
        """A bundle for ``config``. A config that does not place its cgroup gets a relative
        cgroupsPath (under the runtime's own cgroup, where runc's default puts it) named
        ``berth-test-*``: the leak check watches Berth's names only, and no other session shares it."""
        self.count += 1
        path = self.tmp / f"bundle{self.count}"
        path.mkdir()
        linux = config.get("linux")
        if isinstance(linux, dict) and "cgroupsPath" not in linux:
            config = {**config, "linux": {**linux, "cgroupsPath": unique_name()}}
        (path / "config.json").write_text(json.dumps(config))
        return path

    def __call__(
        self,
        *args: str,
        check: bool = True,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        timeout: float = 30,
        **kw: Any,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [RUNTIME, "--root", str(self.root), *args],
            stdout=stdout,
            stderr=stderr,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"berth-runtime {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def run(self, config: dict[str, Any], cid: str = "c1") -> subprocess.CompletedProcess[str]:
        """``run`` a container to completion (output captured)."""
        return self("run", "--bundle", str(self.bundle(config)), cid, check=False)

    def create(
        self, config: dict[str, Any], cid: str = "c1", *flags: str, check: bool = True
    ) -> tuple[Path, int]:
        """``create`` a container whose stdout/stderr go to a file; return (file, exit status).

        The container inherits the runtime's stdio, so a pipe would stay open as long as it runs.
        """
        out = self.tmp / f"{cid}.out"
        with open(out, "w") as fh:
            done = self("create", "--bundle", str(self.bundle(config)), *flags, cid, stdout=fh, stderr=fh,
                        check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"create failed: {out.read_text()}")
        return out, done.returncode

    def state(self, cid: str) -> dict[str, Any]:
        return dict(json.loads(self("state", cid).stdout))

    def cleanup(self) -> None:
        if not self.root.is_dir():
            return
        cache = ".seccomp-cache"  # compiled seccomp programs, shared by every container
        for cid in os.listdir(self.root):
            if cid != cache:
                self("delete", "--force", cid, check=False)
        assert set(os.listdir(self.root)) <= {cache}, "delete --force left state behind"


@pytest.fixture
def runtime(tmp_path: Path, rootfs: Path) -> Iterator[Runtime]:
    rt = Runtime(tmp_path, rootfs)
    yield rt
    rt.cleanup()
