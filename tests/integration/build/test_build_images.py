"""``berth build`` end to end: real images from the busybox base, run afterwards; bad input leaves nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BASE = "localhost/busybox:build-base"

CONTAINERFILE = """\
FROM {base} AS base
ARG GREETING=hi
ENV APP=/app
WORKDIR $APP
COPY a.txt sub ./
RUN --network=none echo "$GREETING from run" > run.txt
COPY <<EOF here.txt
app is $APP
EOF

FROM base
USER 1000
EXPOSE 8080/tcp
LABEL org.example=yes
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo triggered
SHELL ["/bin/sh", "-ec"]
CMD cat run.txt here.txt
"""


@pytest.fixture
def based(berth: Berth) -> Berth:
    berth("import", str(berth.rootfs), BASE)
    return berth


def context(tmp_path: Path, containerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "sub" / "b").write_text("b\n")
    (ctx / "skipped.log").write_text("no\n")
    (ctx / ".containerignore").write_text("*.log\n")
    (ctx / "Containerfile").write_text(containerfile.format(base=BASE))
    return ctx


def inspect_config(berth: Berth, image: str) -> dict[str, object]:
    (doc,) = json.loads(berth("image", "inspect", image).stdout)
    return dict(doc["Config"])


def test_build_two_stages_and_run(based: Berth, tmp_path: Path) -> None:
    ctx = context(tmp_path, CONTAINERFILE)
    out = based(
        "build", "--format", "docker", "-t", "localhost/built:1", "-t", "localhost/built:2", str(ctx),
        "--network", "none",
    )  # fmt: skip
    assert "STEP 1/16: FROM" in out.stdout
    run = based("run", "--rm", "--network", "none", "localhost/built:2")
    assert run.stdout == "hi from run\napp is /app\n"
    config = inspect_config(based, "localhost/built:1")
    assert config["User"] == "1000" and config["WorkingDir"] == "/app"
    assert config["Cmd"] == ["/bin/sh", "-ec", "cat run.txt here.txt"]
    assert config["ExposedPorts"] == {"8080/tcp": {}} and config["Labels"] == {"org.example": "yes"}
    assert config["StopSignal"] == "SIGINT" and config["OnBuild"] == ["RUN echo triggered"]
    listing = based("run", "--rm", "--network", "none", "localhost/built:1", "ls", "/app").stdout.split()
    assert listing == ["a.txt", "b", "here.txt", "run.txt"]


def test_onbuild_triggers_run_in_the_child(based: Berth, tmp_path: Path) -> None:
    parent = context(tmp_path, "FROM {base}\nONBUILD RUN touch /triggered\n")
    based("build", "-q", "--format", "docker", "-t", "localhost/parent:1", str(parent))
    child = tmp_path / "child"
    child.mkdir()
    (child / "Containerfile").write_text("FROM localhost/parent:1\n")
    based("build", "-q", "-t", "localhost/child:1", "--network", "none", str(child))
    based("run", "--rm", "--network", "none", "localhost/child:1", "test", "-f", "/triggered")
    assert "OnBuild" not in inspect_config(based, "localhost/child:1")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("RUNN x\n", 'Containerfile:2: unknown instruction "RUNN"'),
        ("COPY --frm=x a.txt /\n", "Containerfile:2: unknown flag --frm for COPY"),
        ("RUN <<EOF\necho\n", "Containerfile:2: unterminated heredoc 'EOF'"),
        ("COPY ../etc/passwd /\n", "Containerfile:2: ../etc/passwd: outside the build context"),
        ("COPY missing /\n", "Containerfile:2: missing: no such file or directory in the build context"),
        (
            "COPY skipped.log /\n",
            "Containerfile:2: skipped.log: no such file or directory in the build context",
        ),
        ("COPY --from=nostage /x /\n", "Containerfile:2: image nostage not found"),
        ("RUN --mount=type=bind,from=nostage,target=/m true\n", "Containerfile:2: image nostage not found"),
        ("COPY dangling /\n", "Containerfile:2: dangling: a link to nothing in the build context"),
        ("RUN --mnt=type=tmpfs true\n", "Containerfile:2: unknown flag --mnt for RUN"),
        ("COPY a.txt /\nFROM nostage\n", "Containerfile:3: image nostage not found"),
        ("RUN exit 3\n", "Containerfile:2: RUN exited with status 3: RUN exit 3"),
        ("COPY a.txt /\nRUN echo out; exit 7\n", "Containerfile:3: RUN exited with status 7: "),
    ],
)
def test_bad_input_is_one_line_exit_125_and_leaves_nothing(
    based: Berth, tmp_path: Path, body: str, message: str
) -> None:
    ctx = context(tmp_path, "FROM {base}\n" + body)
    (ctx / "dangling").symlink_to("/nowhere")
    before = based("images", "-q").stdout
    argv = ("build", "--pull=never", "-t", "localhost/bad:1", "--network", "none", str(ctx))
    proc = based(*argv, check=False)
    assert proc.returncode == 125
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"berth: {message}")
    assert based("images", "-q").stdout == before
    assert based("ps", "-aq", "--external").stdout == ""
    for made in ("snapshots/active", "snapshots/held", "tmp"):
        assert not (based.root / made).exists() or not list((based.root / made).iterdir()), made
    assert str(based.root) not in Path("/proc/self/mounts").read_text()
    # Only finished steps are cached (the COPY before a failing RUN), each with its layer.
    entries = list((based.root / "build" / "cache").glob("*"))
    assert len(entries) == body.startswith("COPY a.txt /\nRUN")
    for entry in entries:
        digest = json.loads(entry.read_text())["layer"]["digest"]
        assert (based.root / "images" / "blobs" / digest.replace(":", "/")).exists()
