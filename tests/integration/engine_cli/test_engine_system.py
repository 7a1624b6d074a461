"""``info``, ``system df`` and ``system prune`` as a user sees them."""

from __future__ import annotations

import json

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def test_info_names_storage_cgroups_and_runtimes(berth: Berth) -> None:
    info = json.loads(berth("info").stdout)
    assert info["store"]["graphRoot"] == str(berth.root) and info["store"]["runRoot"] == str(berth.runroot)
    assert info["host"]["cgroupVersion"] in ("v1", "v2")
    assert info["defaultRuntime"] == "runc" and "runc" in info["runtimes"]
    assert "berth-runtime" in info["runtimes"]
    assert json.loads(berth("system", "info").stdout)["store"] == info["store"]


def test_df_and_prune(berth: Berth) -> None:
    berth("volume", "create", "berthkeep")
    berth.run("--name", "done", "--network", "none", "-v", "berthkeep:/v", "--", "sh", "-c", "echo x > /v/f")
    berth.run("-d", "--name", "alive", "--network", "none", "--", "sleep", "1000")
    rows = {r["Type"]: r for r in json.loads(berth("system", "df", "--format", "json").stdout)}
    assert (rows["Containers"]["Total"], rows["Containers"]["Active"]) == (2, 1)
    assert (rows["Local Volumes"]["Total"], rows["Local Volumes"]["Active"]) == (1, 1)
    assert rows["Local Volumes"]["Size"] > 0
    berth("network", "create", "berthidle")
    out = berth("system", "prune", "-f", "--volumes").stdout
    assert "berthidle" in out and "berthkeep" in out
    assert berth("ps", "-a", "--format", "json").stdout.count('"alive"') == 1
    assert berth("ps", "-a", "-q").stdout.count("\n") == 1
    berth("rm", "-f", "alive")
