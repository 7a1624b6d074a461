"""The layer cache: which steps a rebuild runs, ``--no-cache``, ``--layers=false`` and the prunes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.build.test_build_images import BASE, based
from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

__all__ = ["based"]

CONTAINERFILE = f"""\
FROM {BASE}
COPY a.txt /a.txt
RUN cat /a.txt > /from-a
COPY b.txt /b.txt
RUN cat /b.txt > /from-b
ENV E=1
ARG V=one
RUN echo $V > /v
"""

STEPS = ["COPY a.txt /a.txt", "RUN cat /a.txt > /from-a", "COPY b.txt /b.txt", "RUN cat /b.txt > /from-b"]
LAST = "RUN echo $V > /v"


def make_context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    return ctx


def build(berth: Berth, ctx: Path, *flags: str) -> list[str]:
    """Build ``ctx`` as localhost/cached:1; the tree steps that ran (not taken from the cache)."""
    out = berth("build", "-t", "localhost/cached:1", "--network", "none", *flags, str(ctx)).stdout
    ran, step = [], None
    for line in out.splitlines():
        if line.startswith("STEP "):
            if step is not None:
                ran.append(step)
            text = line.split(": ", 1)[1]
            step = text if text.split()[0] in ("COPY", "ADD", "RUN") else None
        elif line == "--> Using cache":
            step = None
    return ran + ([step] if step is not None else [])


def entries(berth: Berth) -> int:
    cache = berth.root / "build" / "cache"
    return len(list(cache.glob("*.json"))) if cache.is_dir() else 0


def test_unchanged_rebuild_runs_nothing_and_gives_the_same_tree(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    assert build(based, ctx) == [*STEPS, LAST]
    assert entries(based) == 5
    assert build(based, ctx) == []
    out = based("run", "--rm", "--network", "none", "localhost/cached:1", "cat", "/from-a", "/from-b", "/v")
    assert out.stdout == "a\nb\none\n"


def test_a_changed_file_reruns_from_its_copy_on(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    build(based, ctx)
    (ctx / "b.txt").write_text("b2\n")
    assert build(based, ctx) == [*STEPS[2:], LAST]
    out = based("run", "--rm", "--network", "none", "localhost/cached:1", "cat", "/from-b")
    assert out.stdout == "b2\n"


def test_a_changed_build_arg_reruns_only_the_steps_that_use_it(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    build(based, ctx)
    assert build(based, ctx, "--build-arg", "V=two") == [LAST]
    # An ARG no step declares changes nothing.
    assert build(based, ctx, "--build-arg", "V=two", "--build-arg", "OTHER=x") == []
    out = based("run", "--rm", "--network", "none", "localhost/cached:1", "cat", "/v")
    assert out.stdout == "two\n"


def test_no_cache_and_layers_false(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    assert build(based, ctx, "--layers=false") == [*STEPS, LAST]
    assert entries(based) == 0
    build(based, ctx)
    assert build(based, ctx, "--no-cache") == [*STEPS, LAST]
    assert build(based, ctx, "--layers", "false") == [*STEPS, LAST]


@pytest.mark.parametrize("prune", [("system", "prune"), ("builder", "prune")])
def test_prune_drops_the_cache_and_its_layers(based: Berth, tmp_path: Path, prune: tuple[str, ...]) -> None:
    ctx = make_context(tmp_path)
    build(based, ctx)
    based("rmi", "localhost/cached:1")
    based(*prune)
    assert entries(based) == 0
    blobs = based.root / "images" / "blobs" / "sha256"
    base_only = {p.name for p in blobs.iterdir()} if blobs.is_dir() else set()
    assert build(based, ctx) == [*STEPS, LAST]
    assert {p.name for p in blobs.iterdir()} > base_only


def test_a_failed_step_leaves_no_entry(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    (ctx / "Containerfile").write_text(f"FROM {BASE}\nCOPY a.txt /a.txt\nRUN touch /x && exit 3\n")
    proc = based("build", "--network", "none", str(ctx), check=False)
    assert proc.returncode == 125
    assert entries(based) == 1  # the COPY's


def test_a_concurrent_system_prune_leaves_a_running_build_alone(based: Berth, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    script = "while [ ! -e /go ]; do sleep 0.1; done; echo finished > /out"
    (ctx / "Containerfile").write_text(f"FROM {BASE}\nRUN {script}\n")
    build = subprocess.Popen(
        based.argv("build", "-t", "localhost/pruned:1", "--network", "none", str(ctx)),
        env=based.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        active = based.root / "snapshots" / "active"
        deadline = time.monotonic() + 60
        while not list(active.glob("owned-*/rootfs/bin")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (root,) = [p.parent for p in active.glob("owned-*/rootfs/bin")]
        based("system", "prune")
        assert root.is_dir()
        (root / "go").touch()
        out, _ = build.communicate(timeout=60)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 0, out
    run = based("run", "--rm", "--network", "none", "localhost/pruned:1", "cat", "/out")
    assert run.stdout == "finished\n"
