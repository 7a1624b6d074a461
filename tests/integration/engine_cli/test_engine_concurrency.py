"""Several ``berth`` commands at once share the database and the network safely."""

from __future__ import annotations

import json

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(180)


def test_concurrent_runs_and_listings(berth: Berth) -> None:
    runs = [berth.popen_run("-d", "--name", f"c{i}", "--", "sleep", "1000") for i in range(6)]
    listings = [berth.popen("ps", "-a", "--format", "json", stdout=-1, stderr=-1) for _ in range(3)]
    for proc in [*runs, *listings]:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    rows = json.loads(berth("ps", "--format", "json").stdout)
    assert sorted(r["Names"][0] for r in rows) == [f"c{i}" for i in range(6)]
    addresses = set()
    for i in range(6):
        (network,) = berth.inspect(f"c{i}")["NetworkSettings"]["Networks"].values()
        addresses.add(network["IPAddress"])
    assert len(addresses) == 6  # host-local IPAM handed out six different addresses
    removals = [berth.popen("rm", "-f", f"c{i}", stdout=-1, stderr=-1) for i in range(6)]
    for proc in removals:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert berth("ps", "-a", "-q").stdout == ""
