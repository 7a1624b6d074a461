"""Admission through the CRI: the rule sets berth.toml names judge CreateContainer as they judge
``berth run``; a denied container is a gRPC error naming the rule, and no container exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, connect, sandbox_config, start_server, stop_server
from tests.integration.engine_cli.conftest import Berth

RULES = """package site.admission
import rego.v1

deny contains "no-privileged: privileged containers are not allowed" if input.container.privileged
"""


@pytest.fixture
def judged_cri(imaged: Berth, tmp_path: Path) -> Iterator[Cri]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "admission.rego").write_text(RULES)
    with imaged.config_file.open("a") as config:
        config.write(f'\n[admission]\npolicies = ["{rules}"]\n')
    socket = imaged.runroot / "cri" / "cri.sock"
    socket.parent.mkdir(parents=True)
    process = start_server(imaged, socket)
    channel, runtime, images = connect(socket)
    try:
        yield Cri(imaged, socket, process, runtime, images, channel)
    finally:
        channel.close()
        assert stop_server(process) == 0
        imaged("pod", "rm", "--all", "-f", check=False)


def _create(cri: Cri, sid: str, config: pb.PodSandboxConfig, name: str, privileged: bool) -> str:
    security = pb.LinuxContainerSecurityContext(privileged=privileged)
    ctr = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name),
        image=pb.ImageSpec(image=IMAGE),
        command=["sleep", "100"],
        linux=pb.LinuxContainerConfig(security_context=security),
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr, sandbox_config=config)
    return str(cri.runtime.CreateContainer(request).container_id)


def test_create_container_is_judged_before_anything_exists(judged_cri: Cri) -> None:
    config = sandbox_config("judged", linux=pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(privileged=True)))  # fmt: skip
    sid = judged_cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    with pytest.raises(grpc.RpcError) as denied:
        _create(judged_cri, sid, config, "root", privileged=True)
    assert "denied by site.admission.no-privileged" in str(denied.value.details())
    assert judged_cri.runtime.ListContainers(pb.ListContainersRequest()).containers == []
    allowed = _create(judged_cri, sid, config, "plain", privileged=False)
    listed = judged_cri.runtime.ListContainers(pb.ListContainersRequest()).containers
    assert [c.id for c in listed] == [allowed]
