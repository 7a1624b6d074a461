"""Every RPC ``berth cri serve`` implements, through a gRPC client: a sandbox and a container
through their whole life, images, stats, idempotent stops and removes, and errors as status codes."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config, wait_for, wait_state


def _code(call: object, *args: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call(*args)  # type: ignore[operator]
    return err.value.code()  # type: ignore[no-any-return]


def test_runtime_info(cri: Cri) -> None:
    version = cri.runtime.Version(pb.VersionRequest())
    assert (version.runtime_name, version.runtime_api_version) == ("berth", "v1")
    status = cri.runtime.Status(pb.StatusRequest(verbose=True)).status
    assert {c.type: c.status for c in status.conditions}["RuntimeReady"]
    assert "NetworkReady" in {c.type for c in status.conditions}
    config = cri.runtime.RuntimeConfig(pb.RuntimeConfigRequest())
    assert config.linux.cgroup_driver == pb.CgroupDriver.Value("CGROUPFS")
    cri.runtime.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest())


def test_images(cri: Cri) -> None:
    listed = cri.images.ListImages(pb.ListImagesRequest()).images
    assert [IMAGE] in [list(i.repo_tags) for i in listed]
    image = cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE))).image
    assert image.id.startswith("sha256:") and image.size > 0
    by_id = cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=image.id))).image
    assert by_id.id == image.id
    missing = cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="localhost/none:1")))
    assert not missing.HasField("image")
    for wanted, found in ((IMAGE, [image.id]), ("localhost/none:1", [])):  # a filter for one image
        one = pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image=wanted)))
        assert [i.id for i in cri.images.ListImages(one).images] == found
    fs = cri.images.ImageFsInfo(pb.ImageFsInfoRequest())
    assert fs.image_filesystems[0].used_bytes.value > 0
    cri.images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image.id)))
    assert cri.images.ListImages(pb.ListImagesRequest()).images == []
    cri.images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image.id)))  # idempotent


def test_sandbox_and_container_life(cri: Cri, tmp_path: Path) -> None:
    logs = tmp_path / "pod-logs"
    config = sandbox_config("web", log_directory=str(logs), labels={"app": "web"}, annotations={"a": "b"})
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    status = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert status.state == pb.SANDBOX_READY and status.metadata.name == "web"
    assert status.network.ip and dict(status.annotations) == {"a": "b"}
    listed = cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items
    assert [s.id for s in listed] == [sid]
    other = pb.PodSandboxFilter(label_selector={"app": "db"})
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=other)).items == []

    ctr_config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=1),
        image=pb.ImageSpec(image=IMAGE),
        command=["sh", "-c"],
        args=["echo hello from $GREETING; exec sleep 1000"],
        envs=[pb.KeyValue(key="GREETING", value=b"cri")],
        labels={"tier": "front"},
        log_path="app/1.log",
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr_config, sandbox_config=config)
    cid = cri.runtime.CreateContainer(request).container_id
    assert wait_state(cri.runtime, cid, "CONTAINER_CREATED").state == pb.CONTAINER_CREATED
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    status = wait_state(cri.runtime, cid, "CONTAINER_RUNNING")
    assert status.state == pb.CONTAINER_RUNNING and status.metadata.name == "app"
    assert status.log_path == str(logs / "app/1.log") and status.image_ref.startswith("sha256:")
    wait_for(lambda: b"hello from cri" in (logs / "app/1.log").read_bytes(), "the CRI log")
    assert b" stdout F hello from cri" in (logs / "app/1.log").read_bytes()  # CRI log format

    listed_ctrs = cri.runtime.ListContainers(pb.ListContainersRequest()).containers
    assert [(c.id, c.pod_sandbox_id, c.image_ref) for c in listed_ctrs] == [(cid, sid, status.image_ref)]
    assert status.image.image == IMAGE

    # The kubelet asks for the image by its id: the status still names it (the pod's status shows
    # it), by the name the user gave when the kubelet passes one (its user_specified_image).
    for user_specified, shown in (("", IMAGE), ("busybox", "busybox")):
        by_id = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=f"by-id{user_specified}"),
            image=pb.ImageSpec(image=status.image_ref, user_specified_image=user_specified),
            command=["true"],
        )
        made = cri.runtime.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=by_id))
        named = cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=made.container_id))
        assert named.status.image.image == shown
        cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=made.container_id))
    front = pb.ContainerFilter(label_selector={"tier": "front"}, pod_sandbox_id=sid[:12])
    assert len(cri.runtime.ListContainers(pb.ListContainersRequest(filter=front)).containers) == 1

    done = cri.runtime.ExecSync(
        pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo out; echo err >&2; exit 3"])
    )
    assert (done.stdout, done.stderr, done.exit_code) == (b"out\n", b"err\n", 3)

    stats = cri.runtime.ContainerStats(pb.ContainerStatsRequest(container_id=cid)).stats
    assert stats.attributes.id == cid and stats.memory.working_set_bytes.value > 0
    assert [
        s.attributes.id for s in cri.runtime.ListContainerStats(pb.ListContainerStatsRequest()).stats
    ] == [cid]
    pod_stats = cri.runtime.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats
    assert pod_stats.linux.process.process_count.value >= 2
    assert len(cri.runtime.ListPodSandboxStats(pb.ListPodSandboxStatsRequest()).stats) == 1

    limits = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_quota=50_000, cpu_period=100_000)
    cri.runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=limits))
    (logs / "app/1.log").rename(logs / "app/1.log.old")  # the kubelet's rotation
    cri.runtime.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=cid))
    rotated = (logs / "app/1.log.old").read_bytes()
    to_sleep = "echo rotated >/proc/$(pidof sleep)/fd/1"  # the container's process (pid 1 is the pod's)
    cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", to_sleep]))
    wait_for(lambda: b"F rotated" in (logs / "app/1.log").read_bytes(), "the reopened log")
    assert (logs / "app/1.log.old").read_bytes() == rotated

    cri.runtime.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    status = wait_state(cri.runtime, cid, "CONTAINER_EXITED")
    assert status.state == pb.CONTAINER_EXITED and status.finished_at >= status.started_at > 0
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
    assert (
        _code(cri.runtime.ContainerStatus, pb.ContainerStatusRequest(container_id=cid))
        == grpc.StatusCode.NOT_FOUND
    )
    assert (logs / "app/1.log").exists()  # the kubelet removes the logs it kept

    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    status = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert status.state == pb.SANDBOX_NOTREADY
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
    # The CRI's idempotence: stopping and removing what is gone succeeds.
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    cri.runtime.StopContainer(pb.StopContainerRequest(container_id=cid))
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))


def test_errors_and_unsupported(cri: Cri) -> None:
    runtime = cri.runtime
    assert _code(runtime.RunPodSandbox, pb.RunPodSandboxRequest()) == grpc.StatusCode.INVALID_ARGUMENT
    missing = pb.PodSandboxStatusRequest(pod_sandbox_id="0" * 64)
    assert _code(runtime.PodSandboxStatus, missing) == grpc.StatusCode.NOT_FOUND
    create = pb.CreateContainerRequest(
        pod_sandbox_id="0" * 64,
        config=pb.ContainerConfig(metadata=pb.ContainerMetadata(name="x"), image=pb.ImageSpec(image=IMAGE)),
    )
    assert _code(runtime.CreateContainer, create) == grpc.StatusCode.NOT_FOUND
    assert _code(runtime.StopContainer, pb.StopContainerRequest()) == grpc.StatusCode.INVALID_ARGUMENT
    handler = pb.RunPodSandboxRequest(config=sandbox_config("x"), runtime_handler="kata")
    assert _code(runtime.RunPodSandbox, handler) == grpc.StatusCode.INVALID_ARGUMENT
    assert runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []  # nothing left
    checkpoint = pb.CheckpointContainerRequest(container_id="x")
    assert _code(runtime.CheckpointContainer, checkpoint) == grpc.StatusCode.UNIMPLEMENTED
    # An RPC Berth does not serve says which.
    with pytest.raises(grpc.RpcError) as err:
        runtime.UpdatePodSandboxResources(pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id="x"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert err.value.details() == "UpdatePodSandboxResources is not implemented by Berth"
    unknown = pb.ExecRequest(container_id="0" * 64, cmd=["true"], stdout=True)
    assert _code(runtime.Exec, unknown) == grpc.StatusCode.NOT_FOUND
    no_streams = pb.ExecRequest(container_id="0" * 64, cmd=["true"])
    assert _code(runtime.Exec, no_streams) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(runtime.PortForward, pb.PortForwardRequest()) == grpc.StatusCode.INVALID_ARGUMENT
