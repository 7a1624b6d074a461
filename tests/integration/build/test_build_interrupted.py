"""A build interrupted with SIGINT says where, exits 125 and leaves nothing; what one killed with
SIGKILL leaves goes at the next build, ps, or prune, never a live build's; a prune never takes a
running build's layers."""

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
from berth.engine.metadata import Metadata
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
    assert berth("ps", "-aq", "--external").stdout == ""
    for made in ("snapshots/active", "snapshots/held", "tmp"):
        assert not (berth.root / made).exists() or not list((berth.root / made).iterdir()), made
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


#: A build with each moment a SIGKILL may land in: a RUN, a COPY of many files, its commit.
MANY = f"FROM {BASE}\nCOPY many /many\nRUN sleep 3\n"


def killed_build(berth: Berth, ctx: Path, moment: str) -> None:
    """Start a build of ``ctx`` and SIGKILL it at ``moment``: ``run`` (its RUN container is up),
    ``copy`` (its COPY's root is prepared) or ``commit`` (its layer is being written)."""
    proc = berth.popen("build", "--network", "none", "--no-cache", str(ctx), stdout=subprocess.DEVNULL)
    active, ingest = berth.root / "snapshots" / "active", berth.root / "images" / "ingest"
    before = len(berth("ps", "-aq", "--external").stdout.split())
    arrived = {
        "run": lambda: len(berth("ps", "-aq", "--external").stdout.split()) > before,
        "copy": lambda: any(p.name.startswith("owned-") for p in active.glob("*")),
        "commit": lambda: any(ingest.glob("*")),
    }[moment]
    try:
        wait_for(lambda: proc.poll() is not None or arrived(), f"the build's {moment}", limit=60)
        assert proc.poll() is None, "the build ended before its " + moment
    finally:
        proc.kill()
        proc.communicate(timeout=60)


def dead_builds_leftovers(berth: Berth) -> list[str]:
    """What a killed build may leave that a user sees or that stays."""
    left = [line for line in Path("/proc/self/mounts").read_text().splitlines() if str(berth.root) in line]
    for sub in ("snapshots/active", "snapshots/held", "tmp"):
        found = berth.root / sub
        left += [str(p) for p in found.iterdir()] if found.is_dir() else []
    config = load_config(berth.root, berth.runroot)
    with Metadata(config.db_path) as db:  # not ps, which would sweep them
        return left + [record.id for record in db.containers()]


@pytest.mark.parametrize("moment", ["run", "copy", "commit"])
def test_sigkill_leaves_nothing_after_the_next_build(based: Berth, tmp_path: Path, moment: str) -> None:
    ctx = tmp_path / "many-ctx"
    (ctx / "many").mkdir(parents=True)
    for i in range(3000):
        (ctx / "many" / f"f{i}").write_bytes(os.urandom(2048))
    (ctx / "Containerfile").write_text(MANY)
    killed_build(based, ctx, moment)
    based("build", "-q", "--network", "none", "-t", "localhost/after:1", str(tmp_path / "ctx"))
    assert dead_builds_leftovers(based) == []
    based("rmi", "localhost/after:1")
    based("system", "prune", "-f")
    assert_nothing_half_made(based)


#: A RUN that lasts until the file ``go`` appears in the context.
WAITING = f"FROM {BASE}\nRUN --mount=type=bind,target=/ctx while [ ! -e /ctx/go ]; do sleep 0.1; done\n"


def test_ps_hides_a_live_builds_container_and_sweeps_a_dead_ones(based: Berth, tmp_path: Path) -> None:
    (tmp_path / "ctx" / "Containerfile").write_text(WAITING)
    live = start_build(based, tmp_path)
    try:
        wait_for(lambda: based("ps", "-aq", "--external").stdout != "", "the live build's RUN")
        assert based("ps", "-aq").stdout == ""  # listed only with --external, as podman lists buildah's
        (tmp_path / "dead").mkdir()
        (tmp_path / "dead" / "Containerfile").write_text(f"FROM {BASE}\nRUN sleep 1\n")
        killed_build(based, tmp_path / "dead", "run")
        # ps removes the dead build's container (its RUN still running), never the live one's.
        assert len(based("ps", "-aq", "--external").stdout.split()) == 1
        based("image", "prune", "-f")
        based("build", "-q", "--network", "none", str(tmp_path / "dead"))  # sweeps at its start
    finally:
        (tmp_path / "ctx" / "go").touch()
        _, err = live.communicate(timeout=120)
    assert live.returncode == 0, err
    assert based("ps", "-aq", "--external").stdout == ""
    assert dead_builds_leftovers(based) == []
    based("rmi", "localhost/slow:1")
    based("image", "prune", "-f")  # the dead build's image, untagged
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
