"""CNI invocation details that need no plugin: per-plugin configuration and result parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.config import EngineConfig
from berth.engine.metadata import NetworkRecord
from berth.engine.networks import cni
from berth.engine.networks.bridge import conflist_for


def test_plugin_conf_gets_name_version_prev_and_capabilities() -> None:
    conflist = {"cniVersion": "1.0.0", "name": "n", "plugins": []}
    portmap = {"type": "portmap", "capabilities": {"portMappings": True}}
    conf = cni._plugin_conf(conflist, portmap, {"ips": []}, {"portMappings": [1], "bandwidth": {}})
    assert conf == {
        **portmap,
        "name": "n",
        "cniVersion": "1.0.0",
        "prevResult": {"ips": []},
        "runtimeConfig": {"portMappings": [1]},
    }
    bridge = cni._plugin_conf(conflist, {"type": "bridge"}, None, {"portMappings": [1]})
    assert "prevResult" not in bridge and "runtimeConfig" not in bridge


def test_conflist_for_a_network(tmp_path: Path) -> None:
    record = NetworkRecord(name="n", id="i", bridge="berth7", subnet="10.9.0.0/24", gateway="10.9.0.1")
    conf = conflist_for(record, EngineConfig(root=tmp_path))
    bridge, portmap = conf["plugins"]
    assert bridge["bridge"] == "berth7" and bridge["isGateway"] and not bridge["ipMasq"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))
    assert portmap["capabilities"] == {"portMappings": True}


def test_missing_plugin_and_addresses(tmp_path: Path) -> None:
    with pytest.raises(cni.CNIError, match="not found"):
        cni.find_plugin("nope", (str(tmp_path),))
    assert cni.result_addresses({"ips": [{"address": "10.0.0.2/24"}]}) == ["10.0.0.2/24"]


def test_plugin_error_object_becomes_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "failing"
    plugin.write_text('#!/bin/sh\necho \'{"code": 11, "msg": "no luck", "details": "at all"}\'\nexit 1\n')
    plugin.chmod(0o755)
    with pytest.raises(cni.CNIError, match="CNI plugin failing ADD failed: no luck: at all"):
        cni.add_network(
            {"name": "n", "plugins": [{"type": "failing"}]},
            cni.RuntimeConf("id", "/ns", "eth0", (str(tmp_path),)),
        )


def test_importing_a_network_another_call_just_made_takes_it(tmp_path: Path) -> None:
    """Two sandboxes at once on a fresh root both find no ``cri-...`` network and both make it: the
    second's insert fails, and it takes the first's (critest's benchmarks start two at once)."""
    from berth.engine.metadata import Metadata
    from berth.engine.networks.bridge import import_network
    from berth.errors import NotFound

    config = EngineConfig(root=tmp_path)
    conflist = {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge", "bridge": "brx"}]}
    with Metadata(tmp_path / "db") as db:
        made = import_network(config, db, "cri-n", conflist)
        looked = db.network

        def not_yet(name: str) -> NetworkRecord:  # the second caller looked before the first's insert
            db.network = looked  # type: ignore[method-assign]
            raise NotFound(name)

        db.network = not_yet  # type: ignore[method-assign]
        assert import_network(config, db, "cri-n", conflist).id == made.id
