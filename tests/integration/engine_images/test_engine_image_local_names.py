"""Images made here under short names (``localhost/NAME``) run by their short names, without a pull."""

from __future__ import annotations

import json

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def test_imported_committed_and_tagged_short_names(berth: Berth) -> None:
    berth("import", str(berth.rootfs), "mine:1")
    berth("tag", "mine:1", "other:2")
    listed = berth("images", "--format", "json").stdout
    assert '"localhost/mine:1"' in listed and '"localhost/other:2"' in listed and "docker.io" not in listed
    # --pull never: a short name must find the local image, not ask docker.io
    out = berth(
        "run", "--rm", "--pull", "never", "--network", "none", "other:2", "sh", "-c", "echo hi > /f; cat /f"
    )
    assert out.stdout == "hi\n"
    berth("create", "--name", "c", "--network", "none", "mine:1", "true")
    berth("commit", "-q", "c", "made")
    tags = [t for image in json.loads(berth("images", "--format", "json").stdout) for t in image["RepoTags"]]
    assert sorted(tags) == ["localhost/made:latest", "localhost/mine:1", "localhost/other:2"]
    berth("rm", "c")
    for name in ("mine:1", "other:2", "made"):
        berth("rmi", name)
    assert berth("images", "-q").stdout == ""
