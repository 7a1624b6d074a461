"""``berth build``'s outputs: --squash, --output (oci and docker-archive), --annotation, --iidfile,
--format docker and a Containerfile on stdin (``-f -``)."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from berth.image.images import ImageStore
from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BASE = "localhost/busybox:build-base"

STEPS = f"""\
FROM {BASE}
RUN echo one > /one
COPY a.txt /a.txt
RUN rm /one && echo two > /two
"""


@pytest.fixture
def based(berth: Berth) -> Berth:
    berth("import", str(berth.rootfs), BASE)
    return berth


def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Containerfile").write_text(STEPS)
    return ctx


def manifest(berth: Berth, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    store = ImageStore(berth.root / "images")
    try:
        image = store.resolve(name)
        return json.loads(image.manifest.to_bytes()), json.loads(
            store.content.read(image.manifest.config.digest)
        )
    finally:
        store.close()


def test_squash_makes_the_new_layers_one(based: Berth, tmp_path: Path) -> None:
    based(
        "build", "-q", "--squash", "--network", "none", "-t", "localhost/squashed:1", str(context(tmp_path))
    )
    doc, config = manifest(based, "localhost/squashed:1")
    assert len(doc["layers"]) == 2  # the base's and the build's
    assert [h.get("empty_layer", False) for h in config["history"]][1:] == [True, True, False]
    listing = based("run", "--rm", "--network", "none", "localhost/squashed:1", "ls", "/").stdout.split()
    assert "two" in listing and "a.txt" in listing and "one" not in listing


def test_outputs_annotations_iidfile_and_docker_format(based: Berth, tmp_path: Path) -> None:
    oci, docker, iid = tmp_path / "image.oci.tar", tmp_path / "image.docker.tar", tmp_path / "iid"
    based(
        "build", "-q", "--network", "none", "--format", "docker", "-t", "localhost/out:1",
        "--annotation", "org.example.note=hi", "--iidfile", str(iid),
        "--output", f"type=oci,dest={oci}", "--output", f"type=docker-archive,dest={docker}",
        str(context(tmp_path)),
    )  # fmt: skip
    doc, _config = manifest(based, "localhost/out:1")
    assert doc["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert doc["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert doc["annotations"] == {"org.example.note": "hi"}
    assert iid.read_text() == doc["config"]["digest"]
    with tarfile.open(oci) as tar:
        assert {"oci-layout", "index.json"} <= set(tar.getnames())
    with tarfile.open(docker) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert entry["RepoTags"] == ["localhost/out:1"]
    based("rmi", "localhost/out:1")
    based("load", "-i", str(oci))
    assert based("run", "--rm", "--network", "none", "localhost/out:1", "cat", "/two").stdout == "two\n"


def test_a_bad_output_is_refused_before_building(based: Berth, tmp_path: Path) -> None:
    proc = based("build", "--output", "type=local,dest=x", str(context(tmp_path)), check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip() == (
        "berth: --output type=local,dest=x: want type=oci,dest=FILE or type=docker-archive,dest=FILE"
    )


def test_containerfile_on_stdin(based: Berth, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    based("build", "-q", "-f", "-", "--network", "none", "-t", "localhost/stdin:1", str(ctx), input=STEPS)
    assert based("run", "--rm", "--network", "none", "localhost/stdin:1", "cat", "/a.txt").stdout == "a\n"
