"""Malformed requests, RPC by RPC: a missing required field, a bad id, a bad value each get the
status code naming the problem (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION), and a request
refused leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config, wait_state

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
UNKNOWN_ID = "0" * 64

#: (what is wrong, the call, the code it must get); the calls take the ids of a ready sandbox, a
#: running container and a created one.
Case = tuple[str, Callable[[Cri, dict[str, str]], Any], grpc.StatusCode]


def _container_config(name: str = "c", image: str = IMAGE, **extra: Any) -> Any:
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image), **extra
    )


def _create(cri: Cri, sandbox: str, config: Any) -> Any:
    return cri.runtime.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=sandbox, config=config, sandbox_config=sandbox_config("bad"))
    )


def _sandbox(**extra: Any) -> Callable[[Cri, dict[str, str]], Any]:
    return lambda cri, ids: cri.runtime.RunPodSandbox(
        pb.RunPodSandboxRequest(config=sandbox_config("bad"), **extra)
    )


def _ports(*mappings: Any) -> Callable[[Cri, dict[str, str]], Any]:
    return lambda cri, ids: cri.runtime.RunPodSandbox(
        pb.RunPodSandboxRequest(config=sandbox_config("bad", port_mappings=list(mappings)))
    )


CASES: list[Case] = [
    # sandboxes
    (
        "RunPodSandbox again with the same metadata",
        lambda cri, ids: cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("good"))),
        grpc.StatusCode.ALREADY_EXISTS,
    ),
    (
        "RunPodSandbox without a config",
        lambda cri, ids: cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest()),
        INVALID,
    ),
    (
        "RunPodSandbox without a namespace",
        lambda cri, ids: cri.runtime.RunPodSandbox(
            pb.RunPodSandboxRequest(
                config=pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="x", uid="u"))
            )
        ),
        INVALID,
    ),
    ("RunPodSandbox with an unknown runtime handler", _sandbox(runtime_handler="kata"), INVALID),
    (
        "RunPodSandbox with a bad port protocol",
        _ports(pb.PortMapping(protocol=7, container_port=80, host_port=8080)),
        INVALID,
    ),
    (
        "RunPodSandbox with a container port out of range",
        _ports(pb.PortMapping(container_port=70000, host_port=1)),
        INVALID,
    ),
    (
        "RunPodSandbox with a negative host port",
        _ports(pb.PortMapping(container_port=80, host_port=-1)),
        INVALID,
    ),
    (
        "RunPodSandbox with a bad host IP",
        _ports(pb.PortMapping(container_port=80, host_port=8081, host_ip="300.1.1.1")),
        INVALID,
    ),
    (
        "StopPodSandbox without an id",
        lambda cri, ids: cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest()),
        INVALID,
    ),
    (
        "RemovePodSandbox without an id",
        lambda cri, ids: cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest()),
        INVALID,
    ),
    (
        "PodSandboxStatus without an id",
        lambda cri, ids: cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest()),
        INVALID,
    ),
    (
        "PodSandboxStatus of an unknown id",
        lambda cri, ids: cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    (
        "PodSandboxStats of an unknown id",
        lambda cri, ids: cri.runtime.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    (
        "PodSandboxStats without an id",
        lambda cri, ids: cri.runtime.PodSandboxStats(pb.PodSandboxStatsRequest()),
        INVALID,
    ),
    # containers
    ("CreateContainer without a sandbox id", lambda cri, ids: _create(cri, "", _container_config()), INVALID),
    (
        "CreateContainer in an unknown sandbox",
        lambda cri, ids: _create(cri, UNKNOWN_ID, _container_config()),
        NOT_FOUND,
    ),
    ("CreateContainer without a config", lambda cri, ids: _create(cri, ids["sandbox"], None), INVALID),
    (
        "CreateContainer without a name",
        lambda cri, ids: _create(cri, ids["sandbox"], _container_config(name="")),
        INVALID,
    ),
    (
        "CreateContainer without an image",
        lambda cri, ids: _create(cri, ids["sandbox"], _container_config(image="")),
        INVALID,
    ),
    (
        "CreateContainer with a bad image reference",
        lambda cri, ids: _create(cri, ids["sandbox"], _container_config(image="Bad Image!!")),
        INVALID,
    ),
    (
        "CreateContainer of an image not pulled",
        lambda cri, ids: _create(cri, ids["sandbox"], _container_config(image="localhost/absent:1")),
        NOT_FOUND,
    ),
    (
        "CreateContainer with a relative container path",
        lambda cri, ids: _create(
            cri, ids["sandbox"], _container_config(mounts=[pb.Mount(container_path="data", host_path="/tmp")])
        ),
        INVALID,
    ),
    (
        "CreateContainer with a missing host path",
        lambda cri, ids: _create(
            cri,
            ids["sandbox"],
            _container_config(mounts=[pb.Mount(container_path="/d", host_path="/no/such/dir")]),
        ),
        INVALID,
    ),
    (
        "CreateContainer with a negative memory limit",
        lambda cri, ids: _create(
            cri,
            ids["sandbox"],
            _container_config(
                linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(memory_limit_in_bytes=-5))
            ),
        ),
        INVALID,
    ),
    (
        "StartContainer without an id",
        lambda cri, ids: cri.runtime.StartContainer(pb.StartContainerRequest()),
        INVALID,
    ),
    (
        "StartContainer of an unknown id",
        lambda cri, ids: cri.runtime.StartContainer(pb.StartContainerRequest(container_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    (
        "StartContainer of a running container",
        lambda cri, ids: cri.runtime.StartContainer(pb.StartContainerRequest(container_id=ids["running"])),
        PRECONDITION,
    ),
    (
        "StopContainer with a negative timeout",
        lambda cri, ids: cri.runtime.StopContainer(
            pb.StopContainerRequest(container_id=ids["running"], timeout=-1)
        ),
        INVALID,
    ),
    (
        "RemoveContainer without an id",
        lambda cri, ids: cri.runtime.RemoveContainer(pb.RemoveContainerRequest()),
        INVALID,
    ),
    (
        "ContainerStatus without an id",
        lambda cri, ids: cri.runtime.ContainerStatus(pb.ContainerStatusRequest()),
        INVALID,
    ),
    (
        "ContainerStatus of an unknown id",
        lambda cri, ids: cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    (
        "ContainerStatus of a sandbox's id",
        lambda cri, ids: cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=ids["sandbox"])),
        NOT_FOUND,
    ),
    (
        "UpdateContainerResources of an unknown id",
        lambda cri, ids: cri.runtime.UpdateContainerResources(
            pb.UpdateContainerResourcesRequest(container_id=UNKNOWN_ID, linux=pb.LinuxContainerResources())
        ),
        NOT_FOUND,
    ),
    (
        "UpdateContainerResources with a negative CPU quota",
        lambda cri, ids: cri.runtime.UpdateContainerResources(
            pb.UpdateContainerResourcesRequest(
                container_id=ids["running"], linux=pb.LinuxContainerResources(cpu_quota=-7, cpu_period=100000)
            )
        ),
        INVALID,
    ),
    (
        "ReopenContainerLog of a created container",
        lambda cri, ids: cri.runtime.ReopenContainerLog(
            pb.ReopenContainerLogRequest(container_id=ids["created"])
        ),
        PRECONDITION,
    ),
    (
        "ContainerStats of an unknown id",
        lambda cri, ids: cri.runtime.ContainerStats(pb.ContainerStatsRequest(container_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    # exec and streams
    (
        "ExecSync without a command",
        lambda cri, ids: cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=ids["running"])),
        INVALID,
    ),
    (
        "ExecSync with a negative timeout",
        lambda cri, ids: cri.runtime.ExecSync(
            pb.ExecSyncRequest(container_id=ids["running"], cmd=["true"], timeout=-1)
        ),
        INVALID,
    ),
    (
        "ExecSync in an unknown container",
        lambda cri, ids: cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=UNKNOWN_ID, cmd=["true"])),
        NOT_FOUND,
    ),
    (
        "ExecSync in a container not running",
        lambda cri, ids: cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=ids["created"], cmd=["true"])),
        PRECONDITION,
    ),
    (
        "Exec with a terminal and stderr",
        lambda cri, ids: cri.runtime.Exec(
            pb.ExecRequest(container_id=ids["running"], cmd=["sh"], tty=True, stdout=True, stderr=True)
        ),
        INVALID,
    ),
    (
        "Attach to a container not running",
        lambda cri, ids: cri.runtime.Attach(pb.AttachRequest(container_id=ids["created"], stdout=True)),
        PRECONDITION,
    ),
    (
        "PortForward to an unknown sandbox",
        lambda cri, ids: cri.runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=UNKNOWN_ID)),
        NOT_FOUND,
    ),
    (
        "PortForward to a port out of range",
        lambda cri, ids: cri.runtime.PortForward(
            pb.PortForwardRequest(pod_sandbox_id=ids["sandbox"], port=[70000])
        ),
        INVALID,
    ),
    # images
    ("PullImage without an image", lambda cri, ids: cri.images.PullImage(pb.PullImageRequest()), INVALID),
    (
        "PullImage of a bad reference",
        lambda cri, ids: cri.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image="Bad Image!!"))),
        INVALID,
    ),
    (
        "ImageStatus of a bad reference",
        lambda cri, ids: cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="a//b:c"))),
        INVALID,
    ),
    (
        "ImageStatus without an image",
        lambda cri, ids: cri.images.ImageStatus(pb.ImageStatusRequest()),
        INVALID,
    ),
    (
        "StreamImages with a bad reference as its filter (the error comes with the stream)",
        lambda cri, ids: list(
            cri.images.StreamImages(
                pb.StreamImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image="Bad Image!!")))
            )
        ),
        INVALID,
    ),
    (
        "RemoveImage without an image",
        lambda cri, ids: cri.images.RemoveImage(pb.RemoveImageRequest()),
        INVALID,
    ),
    (
        "RemoveImage of a bad reference",
        lambda cri, ids: cri.images.RemoveImage(
            pb.RemoveImageRequest(image=pb.ImageSpec(image="Bad Image!!"))
        ),
        INVALID,
    ),
]


def test_malformed_requests_get_the_code_naming_the_problem(cri: Cri) -> None:
    runtime = cri.runtime
    sandbox = runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("good"))).pod_sandbox_id
    running = _create(cri, sandbox, _container_config("running", command=["sleep", "1000"])).container_id
    runtime.StartContainer(pb.StartContainerRequest(container_id=running))
    wait_state(runtime, running, "CONTAINER_RUNNING")
    created = _create(cri, sandbox, _container_config("created", command=["true"])).container_id
    ids = {"sandbox": sandbox, "running": running, "created": created}

    wrong = []
    for what, call, code in CASES:
        try:
            call(cri, ids)
        except grpc.RpcError as err:
            if err.code() != code or not err.details():
                wrong.append(f"{what}: {err.code().name} {err.details()!r}, want {code.name}")
            continue
        wrong.append(f"{what}: succeeded, want {code.name}")
    assert wrong == [], "\n".join(wrong)

    # Nothing refused was made: the good sandbox and its two containers only.
    assert [p.id for p in runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items] == [sandbox]
    listed = {c.id for c in runtime.ListContainers(pb.ListContainersRequest()).containers}
    assert listed == {running, created}
    assert cri.berth("pod", "ps", "-q", "--no-trunc").stdout.split() == [sandbox]
    assert len(cri.berth("ps", "-a", "-q").stdout.split()) == 3  # the infra and the two
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox))
