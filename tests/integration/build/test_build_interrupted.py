"""A build interrupted with SIGINT says where, exits 125 and leaves nothing; one killed with
SIGKILL leaves what ``berth system prune`` clears; a prune never takes a running build's layers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from berth.engine.config import load_config
from berth.engine.images.store import hold_chains, owned_root_key, release_chains
from berth.image.images import ImageStore
from berth.image.snapshots import chain_ids
from tests.integration.engine_cli.conftest import Berth, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BASE = "localhost/busybox:build-base"
SLOW = f"FROM {BASE}\nRUN echo first > /first\nRUN sleep 3\nRUN echo never > /never\n"


@pytest.fixture
def based(berth: Berth, tmp_path: Path) -> Berth:
    berth("import", str(berth.rootfs), BASE)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text(SLOW)
    return berth


def start_build(berth: Berth, tmp_path: Path) -> subprocess.Popen[str]:
    argv = ("build", "--network", "none", "-t", "localhost/slow:1", str(tmp_path / "ctx"))
    return berth.popen(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def assert_nothing_half_made(berth: Berth) -> None:
    assert len(berth("images", "-q").stdout.split()) == 1  # the base alone
    assert berth("ps", "-aq").stdout == ""
    active = berth.root / "snapshots" / "active"
    assert not active.exists() or not list(active.iterdir())
    assert str(berth.root) not in Path("/proc/self/mounts").read_text()
    cache = berth.root / "build" / "cache"
    for entry in cache.iterdir() if cache.exists() else []:
        digest = json.loads(entry.read_text())["layer"]["digest"]
        assert (berth.root / "images" / "blobs" / digest.replace(":", "/")).exists()


def test_sigint_names_the_line_and_leaves_nothing(based: Berth, tmp_path: Path) -> None:
    proc = start_build(based, tmp_path)
    wait_for(lambda: list((based.root / "build" / "cache").glob("*.json")) != [], "the first RUN")
    time.sleep(0.5)  # into the slow RUN
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 125
    assert err.strip() == "berth: Containerfile:3: build interrupted"
    assert_nothing_half_made(based)


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.0, 3.0])
def test_sigkill_leaves_what_system_prune_clears(based: Berth, tmp_path: Path, delay: float) -> None:
    proc = start_build(based, tmp_path)
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=60)
    wait_for(lambda: based("ps", "-a", "--filter", "status=running", "-q").stdout == "", "the RUN to end")
    based("system", "prune", "-f")
    assert_nothing_half_made(based)


def test_image_prune_spares_the_snapshots_a_running_build_holds(based: Berth) -> None:
    config = load_config(based.root, based.runroot)
    store = ImageStore(based.root / "images")
    try:
        chain = chain_ids(store.resolve(BASE).config.diff_ids)[-1]
    finally:
        store.close()
    based("run", "--rm", "--network", "none", BASE, "true")  # unpacks it
    snapshot = based.root / "snapshots" / "snapshots" / chain.encoded
    assert snapshot.exists()
    key = owned_root_key("test-held")
    hold_chains(config, key, [chain])
    try:
        based("rmi", BASE)
        based("image", "prune", "-f")
        assert snapshot.exists()
    finally:
        release_chains(config, key)
    based("image", "prune", "-f")
    assert not snapshot.exists()
