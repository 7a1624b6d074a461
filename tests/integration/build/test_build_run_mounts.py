"""``RUN --mount`` (bind, cache, tmpfs, secret) and ``-q``: what a RUN sees, and what the image keeps."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from tests.integration.build.test_build_images import BASE, based
from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

__all__ = ["based"]

SECRET = "sekrit-7f3a"

CONTAINERFILE = f"""\
FROM {BASE} AS src
RUN echo from-stage > /staged

FROM {BASE}
ARG DIR=data
RUN --mount=type=bind,source=$DIR,target=/mnt/data cat /mnt/data/x > /bound
RUN --mount=type=bind,from=src,source=/staged,target=/s cat /s > /from-stage
RUN --mount=type=bind,source=data,target=/w,rw echo scribble > /w/x
RUN --mount=type=cache,target=/cache,sharing=locked echo run >> /cache/log && wc -l < /cache/log > /count
RUN --mount=type=tmpfs,target=/t grep " /t tmpfs " /proc/mounts > /tmpfs && touch /t/gone
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secret-size
RUN --mount=type=secret,id=tok,target=/tok,mode=0440,uid=7 stat -c "%a %u" /tok > /secret-mode
RUN echo visible-output
"""


def make_context(tmp_path: Path) -> tuple[Path, Path]:
    ctx = tmp_path / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "data" / "x").write_text("hello\n")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    secret = tmp_path / "token"
    secret.write_text(SECRET)
    return ctx, secret


def cat(berth: Berth, *paths: str) -> str:
    return berth("run", "--rm", "--network", "none", "localhost/mounts:1", "cat", *paths).stdout


def test_run_mounts(based: Berth, tmp_path: Path) -> None:
    ctx, secret = make_context(tmp_path)
    flags = ("-t", "localhost/mounts:1", "--network", "none", "--secret", f"id=tok,src={secret}")
    out = based("build", *flags, str(ctx)).stdout
    assert "visible-output" in out
    assert cat(based, "/bound", "/from-stage", "/count", "/secret-size", "/secret-mode") == (
        f"hello\nfrom-stage\n1\n{len(SECRET)}\n440 7\n"
    )
    assert " /t tmpfs " in cat(based, "/tmpfs")
    assert (ctx / "data" / "x").read_text() == "hello\n"  # the rw bind's write was thrown away
    # No mount target, mount content or secret stays in the image; as in buildah 1.28, the
    # directories made above a target do (/mnt for /mnt/data).
    ls = based("run", "--rm", "--network", "none", "localhost/mounts:1", "ls", "-a", "/", "/mnt").stdout
    for name in ("s", "w", "cache", "t", "tok", "secrets", "data"):
        assert name not in ls.split()
    assert "mnt" in ls.split()
    for blob in (based.root / "images" / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        assert SECRET.encode() not in (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    # The cache directory is kept between builds; -q silences RUN's output.
    quiet = based("build", "-q", "--no-cache", *flags, str(ctx)).stdout
    assert "visible-output" not in quiet and len(quiet.split()) == 1
    assert cat(based, "/count") == "2\n"


def test_a_required_secret_not_given_is_one_line(based: Berth, tmp_path: Path) -> None:
    ctx, _ = make_context(tmp_path)
    (ctx / "Containerfile").write_text(f"FROM {BASE}\nRUN --mount=type=secret,id=nope,required=true true\n")
    proc = based("build", "--network", "none", str(ctx), check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip() == (
        "berth: Containerfile:2: secret 'nope' is required: give --secret id=nope,src=FILE"
    )
