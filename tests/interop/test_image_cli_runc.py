"""An image made by ``berth import`` runs under runc: exported as an OCI layout (``berth save
--format oci-archive``), its layer unpacked with GNU tar into a bundle whose config.json comes from
``runc spec``."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from berth.image.layout import ImageLayout
from tests.busybox import make_rootfs

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
]


def berth(root: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "berth.cli.main", "--root", str(root), "--runroot", str(root / "run")]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _bundle(layout_dir: Path, ref: str, bundle: Path) -> None:
    layout = ImageLayout(layout_dir)
    resolved = layout.resolve(ref)
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    for layer in resolved.manifest.layers:
        blob = layout.blobs.path(layer.digest)
        subprocess.run(["tar", "-xpzf", str(blob), "-C", str(rootfs)], check=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["/bin/echo", "hello"]
    config["process"]["terminal"] = False
    config["process"].pop("rlimits", None)  # no CAP_SYS_RESOURCE here: keep the inherited limits
    config["root"] = {"path": "rootfs", "readonly": True}
    (bundle / "config.json").write_text(json.dumps(config))


def test_runc_runs_an_imported_image(tmp_path: Path) -> None:
    root = tmp_path / "berth"
    berth(root, "import", str(make_rootfs(tmp_path / "rootfs")), "localhost/busybox:test")
    archive = tmp_path / "image.tar"
    berth(root, "save", "--format", "oci-archive", "-o", str(archive), "localhost/busybox:test")
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    bundle = tmp_path / "bundle"
    _bundle(layout, "localhost/busybox:test", bundle)  # the ref.name annotation Berth writes
    state, cid = tmp_path / "runc-state", f"berth-img-{secrets.token_hex(4)}"
    try:
        done = subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(bundle), cid],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "hello\n"
    finally:
        subprocess.run(
            ["runc", "--root", str(state), "delete", "--force", cid], capture_output=True, check=False
        )
