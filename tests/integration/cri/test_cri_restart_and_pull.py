"""``berth cri serve`` killed with SIGKILL and started again finds its pods and containers with their
true states; PullImage through a registries.conf mirror to Berth's registry on 127.0.0.1, and under
the signature policy."""

from __future__ import annotations

import os
import signal
import tarfile
from pathlib import Path

import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import (
    IMAGE,
    Cri,
    connect,
    sandbox_config,
    start_server,
    stop_server,
    wait_state,
)


def _container(cri: Cri, sid: str, name: str, script: str) -> str:
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name),
        image=pb.ImageSpec(image=IMAGE),
        command=["sh", "-c", script],
    )
    cid = cri.runtime.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    ).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")
    return cid


def test_restart_after_sigkill_finds_the_true_states(cri: Cri) -> None:
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("kept"))).pod_sandbox_id
    kept = _container(cri, sid, "kept", "exec sleep 1000")
    killed = _container(cri, sid, "killed", "exec sleep 1000")
    assert stop_server(cri.process, signal.SIGKILL) == -signal.SIGKILL
    cri.channel.close()
    os.kill(cri.berth.inspect(killed)["State"]["Pid"], signal.SIGKILL)  # dies while no server runs

    cri.process = start_server(cri.berth, cri.socket)
    cri.channel, cri.runtime, cri.images = connect(cri.socket)
    items = cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items
    assert [(s.id, s.state) for s in items] == [(sid, pb.SANDBOX_READY)]
    states = {c.id: c.state for c in cri.runtime.ListContainers(pb.ListContainersRequest()).containers}
    assert states == {kept: pb.CONTAINER_RUNNING, killed: pb.CONTAINER_EXITED}
    status = wait_state(cri.runtime, killed, "CONTAINER_EXITED")
    assert status.exit_code == 137 and status.reason == "Error"
    done = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=kept, cmd=["echo", "still here"]))
    assert done.stdout == b"still here\n"
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert cri.runtime.ListContainers(pb.ListContainersRequest()).containers == []


def _restart_with(cri: Cri, tmp_path: Path, registries_conf: str, settings_text: str = "") -> None:
    """Start the server again with ``registries_conf`` and ``settings_text`` (and the environment as
    it now is)."""
    conf = tmp_path / "registries.conf"
    conf.write_text(registries_conf)
    settings = tmp_path / "cri.toml"
    settings.write_text(f'registries_conf = "{conf}"\n{settings_text}')
    stop_server(cri.process)
    cri.channel.close()
    cri.process = start_server(cri.berth, cri.socket, settings)
    cri.channel, cri.runtime, cri.images = connect(cri.socket)


def test_pull_through_a_registries_conf_mirror(cri: Cri, registry: str, tmp_path: Path) -> None:
    cri.berth("push", "--tls-verify=false", IMAGE, f"docker://{registry}/e2e/busybox:1.0")
    _restart_with(
        cri, tmp_path, f'[[registry]]\nprefix = "registry.k8s.io"\nlocation = "{registry}"\ninsecure = true\n'
    )

    wanted = pb.ImageSpec(image="registry.k8s.io/e2e/busybox:1.0")
    ref = cri.images.PullImage(pb.PullImageRequest(image=wanted)).image_ref
    image = cri.images.ImageStatus(pb.ImageStatusRequest(image=wanted)).image
    assert image.id == ref and "registry.k8s.io/e2e/busybox:1.0" in image.repo_tags
    local = cri.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE))).image
    assert local.id == ref  # the same image, under two names


def test_the_sandbox_image_is_pulled_through_the_mirror(cri: Cri, registry: str, tmp_path: Path) -> None:
    """``sandbox_image`` names a registry only a registries.conf mirror reaches: RunPodSandbox pulls
    it there (the kubelet never pulls it), and a second pod uses the pulled image."""
    tarball = tmp_path / "pause.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(cri.berth.rootfs, arcname=".")
    cri.berth("import", "--change", 'CMD ["sleep", "1000"]', str(tarball), "localhost/pausing:1")
    cri.berth("push", "--tls-verify=false", "localhost/pausing:1", f"docker://{registry}/pause:3.9")
    cri.berth("rmi", "localhost/pausing:1")
    _restart_with(
        cri,
        tmp_path,
        f'[[registry]]\nprefix = "registry.k8s.io"\nlocation = "{registry}"\ninsecure = true\n',
        'sandbox_image = "registry.k8s.io/pause:3.9"\n',
    )

    for name in ("first", "second"):
        sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(name))).pod_sandbox_id
        status = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
        assert status.state == pb.SANDBOX_READY
    pause = pb.ImageSpec(image="registry.k8s.io/pause:3.9")
    assert cri.images.ImageStatus(pb.ImageStatusRequest(image=pause)).HasField("image")


def test_pull_obeys_the_signature_policy(
    cri: Cri, registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import grpc

    cri.berth("push", "--tls-verify=false", IMAGE, f"docker://{registry}/e2e/refused:1.0")
    policy = tmp_path / "home/.config/containers/policy.json"  # where podman and Berth look first
    policy.parent.mkdir(parents=True)
    scopes = {f"{registry}/e2e": [{"type": "reject"}]}
    policy.write_text(
        json.dumps({"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": scopes}})
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _restart_with(cri, tmp_path, f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')

    wanted = pb.ImageSpec(image=f"{registry}/e2e/refused:1.0")
    with pytest.raises(grpc.RpcError) as refused:
        cri.images.PullImage(pb.PullImageRequest(image=wanted))
    assert "rejected by policy" in refused.value.details()
    assert not cri.images.ImageStatus(pb.ImageStatusRequest(image=wanted)).HasField("image")
