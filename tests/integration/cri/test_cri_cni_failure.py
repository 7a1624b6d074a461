"""A CNI plugin that fails: RunPodSandbox fails with the plugin's error, and leaves no sandbox,
network namespace, cgroup, IP allocation (host-local's files), veth or iptables rule behind (the
session's leak check covers mounts, cgroups and processes); with the plugin gone the next one works.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import BridgeNet, sandbox_config, serving
from tests.integration.engine_cli.conftest import Berth

# A plugin that refuses ADD with a CNI error (SPEC.md#error) and lets every other command succeed.
_FAILING_PLUGIN = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"1.0.0","code":999,"msg":"refused by the test","details":"on purpose"}'; exit 1;;
VERSION) printf '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}';;
esac
exit 0
"""


@pytest.mark.parametrize("where", ["first", "after the bridge and portmap"])
def test_a_failing_cni_plugin_leaves_nothing_behind(imaged: Berth, tmp_path: Path, where: str) -> None:
    plugins_dir = tmp_path / "plugins"
    plugins_dir.mkdir()
    (plugins_dir / "refuse").write_text(_FAILING_PLUGIN)
    (plugins_dir / "refuse").chmod(0o755)
    net = BridgeNet.make(tmp_path)
    host_port = 20000 + int.from_bytes(os.urandom(2)) % 20000
    working = net.plugins()
    failing = [{"type": "refuse"}, *working] if where == "first" else [*working, {"type": "refuse"}]
    net_d = tmp_path / "net.d"
    net.write(net_d, "failing", failing)
    config = f'cni_conf_dir = "{net_d}"\ncni_plugin_dirs = ["{plugins_dir}", "/usr/lib/cni"]\n'
    ports = [pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=host_port)]
    request = pb.RunPodSandboxRequest(config=sandbox_config("cnifail", port_mappings=ports))
    try:
        with serving(imaged, config) as server:
            with pytest.raises(grpc.RpcError) as err:
                server.runtime.RunPodSandbox(request)
            assert "refused by the test: on purpose" in str(err.value.details())
            assert "CNI plugin refuse ADD failed" in str(err.value.details())

            assert server.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
            assert imaged("pod", "ps", "-q").stdout.split() == []
            assert imaged("ps", "-a", "-q").stdout.split() == []
            assert net.allocated() == []
            assert _bridge_ports(net.bridge) == []
            assert _rules_naming(net.subnet, str(host_port)) == []
            assert _mounts_under(imaged.root, imaged.runroot) == []

            # The configuration fixed (a changed file is taken at the next sandbox): it works.
            net.write(net_d, "failing", working)
            sid = server.runtime.RunPodSandbox(request).pod_sandbox_id
            status = server.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
            assert status.network.ip.startswith(f"{net.subnet}.")
            assert len(net.allocated()) == 1
            server.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
            assert net.allocated() == []
            assert _rules_naming(net.subnet, str(host_port)) == []
            imaged("network", "rm", "cri-failing")
    finally:
        net.remove_bridge()


def _bridge_ports(bridge: str) -> list[str]:
    """The interfaces (veths) enslaved to the bridge, if it exists."""
    ports = Path(f"/sys/class/net/{bridge}/brif")
    return sorted(p.name for p in ports.iterdir()) if ports.is_dir() else []


def _rules_naming(subnet: str, port: str) -> list[str]:
    """iptables rules naming the pods' subnet or the host port."""
    rules = []
    for table in ("nat", "filter"):
        dump = subprocess.run(
            ["iptables-save", "-t", table], capture_output=True, text=True, check=True
        ).stdout
        for line in dump.splitlines():
            if line.startswith("-A") and (f"{subnet}." in line or f"--dport {port}" in line):
                rules.append(line)
    return rules


def _mounts_under(*roots: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if any(f" {root}/" in line for root in roots)]
