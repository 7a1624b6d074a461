"""The runtime features a handler reports and the CRI then honours: recursive read-only mounts
(``rro``), image volumes (an image's files, read-only, with a sub path), SupplementalGroupsPolicy;
and a container's CPU weight and CPUs, at creation and in an update."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, bridge_conflist, sandbox_config, serving, wait_state
from tests.integration.engine_cli.conftest import Berth


@pytest.fixture
def cri(imaged: Berth) -> Iterator[Cri]:
    """A server whose default handler runs berth-runtime (the tests' engine default is runc)."""
    with serving(imaged, '[runtime_handlers]\ndefault = "berth-runtime"\n') as server:
        yield server


@pytest.fixture
def sandbox(cri: Cri) -> Iterator[tuple[str, Any]]:
    config = sandbox_config("features")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    yield sid, config
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))


@pytest.fixture
def with_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A directory with a tmpfs mounted below it."""
    (tmp_path / "host" / "tmpfs").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(tmp_path / "host" / "tmpfs")], check=True)
    yield tmp_path / "host"
    subprocess.run(["umount", "--lazy", str(tmp_path / "host" / "tmpfs")], check=True)


def _run(cri: Cri, sandbox: tuple[str, Any], **config: Any) -> str:
    sid, sandbox_config = sandbox
    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="c"),
        image=pb.ImageSpec(image=IMAGE),
        command=["sleep", "1000"],
        **config,
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=sandbox_config)
    cid = cri.runtime.CreateContainer(request).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")
    return cid


def _sh(cri: Cri, cid: str, script: str) -> tuple[int, str]:
    done = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script]))
    return done.exit_code, (done.stdout + done.stderr).decode()


def test_status_reports_the_handlers_features(cri: Cri) -> None:
    status = cri.runtime.Status(pb.StatusRequest())
    default = {h.name: h.features for h in status.runtime_handlers}[""]
    assert default.recursive_read_only_mounts and default.user_namespaces
    assert status.features.supplemental_groups_policy


def test_recursive_read_only_mounts(cri: Cri, sandbox: tuple[str, Any], with_tmpfs: Path) -> None:
    mounts = [
        pb.Mount(host_path=str(with_tmpfs), container_path="/ro", readonly=True),
        pb.Mount(host_path=str(with_tmpfs), container_path="/rro", readonly=True, recursive_read_only=True),
    ]
    cid = _run(cri, sandbox, mounts=mounts)
    assert _sh(cri, cid, "touch /ro/tmpfs/a")[0] == 0  # read-only on top only
    code, output = _sh(cri, cid, "touch /rro/tmpfs/a")
    assert code != 0 and "Read-only file system" in output
    bad = pb.Mount(host_path=str(with_tmpfs), container_path="/x", readonly=False, recursive_read_only=True)
    sid, config = sandbox
    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="bad"), image=pb.ImageSpec(image=IMAGE), mounts=[bad]
    )
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.CreateContainer(
            pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=config)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "needs readonly" in str(
        err.value.details()
    )


def test_image_volume_with_a_sub_path(cri: Cri, sandbox: tuple[str, Any]) -> None:
    image_id = cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE))).image.id
    volume = pb.Mount(
        container_path="/iv", readonly=True, image=pb.ImageSpec(image=IMAGE), image_sub_path="etc"
    )
    cid = _run(cri, sandbox, mounts=[volume])
    assert _sh(cri, cid, "cat /iv/group")[1].startswith("root:x:0:")
    code, output = _sh(cri, cid, "touch /iv/new")
    assert code != 0 and "Read-only file system" in output
    (shown,) = cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status.mounts
    assert (shown.image.image_ref, shown.image_sub_path) == (image_id, "etc")
    sid, config = sandbox
    for bad, message in [
        (
            pb.Mount(
                container_path="/iv", readonly=True, image=pb.ImageSpec(image=IMAGE), image_sub_path="nope"
            ),
            "not a directory",
        ),
        (pb.Mount(container_path="/iv", readonly=False, image=pb.ImageSpec(image=IMAGE)), "must be readonly"),
    ]:
        container = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="bad"), image=pb.ImageSpec(image=IMAGE), mounts=[bad]
        )
        with pytest.raises(grpc.RpcError) as err:
            cri.runtime.CreateContainer(
                pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=config)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in str(err.value.details())


@pytest.mark.parametrize(("policy", "groups"), [("Merge", [1000, 1234, 2000]), ("Strict", [1000, 1234])])
def test_supplemental_groups_policy(
    cri: Cri, sandbox: tuple[str, Any], policy: str, groups: list[int]
) -> None:
    security = pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=1000),
        supplemental_groups=[1234],
        supplemental_groups_policy=pb.SupplementalGroupsPolicy.Value(policy),
    )
    cid = _run(cri, sandbox, linux=pb.LinuxContainerConfig(security_context=security))
    assert _sh(cri, cid, "id -G")[1].split() == [str(g) for g in groups]
    user = cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status.user.linux
    assert (user.uid, user.gid, list(user.supplemental_groups)) == (1000, 1000, groups)


def _userns(mode: str, *mappings: tuple[int, int, int]) -> Any:
    maps = [pb.IDMapping(container_id=c, host_id=h, length=n) for c, h, n in mappings]
    userns = pb.UserNamespace(mode=pb.NamespaceMode.Value(mode), uids=maps, gids=maps)
    return pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(userns_options=userns)
        )
    )


@pytest.fixture
def searchable(tmp_path: Path) -> Iterator[None]:
    """tmp_path and pytest's directories above it let others through (they are 0700): the user
    namespace's root reaches the engine's storage as host uid 1000."""
    folders = [tmp_path, *tmp_path.parents[:2]]
    modes = [f.stat().st_mode & 0o7777 for f in folders]
    for folder, mode in zip(folders, modes, strict=True):
        folder.chmod(mode | 0o001)
    yield
    for folder, mode in zip(folders, modes, strict=True):
        folder.chmod(mode)


def test_a_pod_in_its_own_user_namespace(cri: Cri, tmp_path: Path, searchable: None) -> None:
    config = sandbox_config("userns", log_directory=str(tmp_path), linux=_userns("POD", (0, 1000, 100000)))
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        container = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="c"),
            image=pb.ImageSpec(image=IMAGE),
            command=["sh", "-c", "cat /proc/self/uid_map; touch /written && stat -c %u /written"],
            log_path="c.log",
        )
        request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=config)
        cid = cri.runtime.CreateContainer(request).container_id
        cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
        assert wait_state(cri.runtime, cid, "CONTAINER_EXITED").exit_code == 0
        words = [line.split(" F ", 1)[1].split() for line in (tmp_path / "c.log").read_text().splitlines()]
        assert words == [["0", "1000", "100000"], ["0"]]  # the image's root is the namespace's root
    finally:
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))


def test_a_storage_root_the_namespace_cannot_reach_is_named(cri: Cri) -> None:
    config = sandbox_config("userns", linux=_userns("POD", (0, 1000, 100000)))
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config))
    assert "cannot reach the storage root" in str(err.value.details())
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []


@pytest.mark.parametrize(
    ("linux", "message"),
    [
        (_userns("POD", (0, 1000, 100), (100, 5000, 100)), "want one mapping of container id 0"),
        (_userns("POD", (1, 1000, 100)), "want one mapping of container id 0"),
        (_userns("CONTAINER"), "mode CONTAINER is not supported"),
        (_userns("TARGET"), "mode TARGET is not supported"),
    ],
)
def test_bad_user_namespaces_are_refused(cri: Cri, linux: Any, message: str) -> None:
    config = sandbox_config("bad-userns", linux=linux)
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in str(err.value.details())
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []


def test_a_sandbox_under_the_kubelets_cgroup_parent(cri: Cri) -> None:
    parent = f"/berth-test-kubepods-{os.urandom(4).hex()}"
    config = sandbox_config("parented", linux=pb.LinuxPodSandboxConfig(cgroup_parent=parent))
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        cid = _run(cri, (sid, config))
        assert f":{parent}/berth-pod-{sid}/" in _sh(cri, cid, "cat /proc/self/cgroup")[1]
    finally:
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
        for hierarchy in Path("/sys/fs/cgroup").iterdir():  # the kubelet's own, made for the test
            if (hierarchy / parent.lstrip("/")).is_dir():
                (hierarchy / parent.lstrip("/")).rmdir()


def test_pods_join_the_network_of_the_cni_configuration_directory(imaged: Berth, tmp_path: Path) -> None:
    """The first configuration of cni_conf_dir (as libcni picks it) is the pods' network."""
    net_d = tmp_path / "net.d"
    net_d.mkdir()
    third = os.urandom(1)[0]
    bridge = bridge_conflist(net_d / "10-first.conflist", "first", f"10.233.{third}.0/24", tmp_path / "ipam")
    (net_d / "20-second.conf").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "second", "type": "bridge"})
    )
    try:
        with serving(imaged, f'cni_conf_dir = "{net_d}"\n') as server:
            sid = server.runtime.RunPodSandbox(
                pb.RunPodSandboxRequest(config=sandbox_config("cni"))
            ).pod_sandbox_id
            status = server.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
            assert status.network.ip.startswith(f"10.233.{third}.")
            server.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
            imaged("network", "rm", "cri-first")
    finally:
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)  # the plugin's, not Berth's


def _cpu_weight_and_cpus(cri: Cri, cid: str) -> tuple[int, str]:
    """The container's CPU weight as cgroup v1's ``cpu.shares`` (cgroup v2's ``cpu.weight`` mapped
    back as runc maps shares to it) and the CPUs its cpuset allows."""
    v1 = "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus"
    v2 = "cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpuset.cpus.effective"
    code, out = _sh(cri, cid, f"{v1} 2>/dev/null || {v2}")
    assert code == 0, out
    weight, cpus = out.split()
    if Path("/sys/fs/cgroup/cpu/cpu.shares").exists():
        return int(weight), cpus
    return 2 + (int(weight) - 1) * 262142 // 9999, cpus  # config-linux.md: shares 2-262144


def test_cpu_requests_and_placement_reach_the_cgroup(cri: Cri, sandbox: tuple[str, Any]) -> None:
    """The kubelet gives a container its CPU request as ``cpu_shares`` and, with its CPU manager,
    the CPUs it may use; both at creation and in UpdateContainerResources. ContainerStatus reports
    the resources the container has now."""
    every = sorted(os.sched_getaffinity(0))
    first = str(every[0])
    resources = pb.LinuxContainerResources(cpu_shares=512, cpuset_cpus=first, memory_limit_in_bytes=64 << 20)
    cid = _run(cri, sandbox, linux=pb.LinuxContainerConfig(resources=resources))
    shares, cpus = _cpu_weight_and_cpus(cri, cid)
    assert (abs(shares - 512) < 30, cpus) == (True, first)  # (v2's weight is coarser)
    wider = f"{every[0]}-{every[-1]}" if len(every) > 1 else first
    update = pb.LinuxContainerResources(cpu_shares=2048, cpuset_cpus=wider)
    cri.runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=update))
    shares, cpus = _cpu_weight_and_cpus(cri, cid)
    assert (abs(shares - 2048) < 30, cpus) == (True, wider)
    memory = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
    assert _sh(cri, cid, memory) == (0, f"{64 << 20}\n")  # what the update did not name stays
    status = cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    shown = status.resources.linux
    assert (shown.cpu_shares, shown.cpuset_cpus, shown.memory_limit_in_bytes) == (2048, wider, 64 << 20)
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
