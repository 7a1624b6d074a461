"""What a kubelet reads from the CRI that critest does not check: for its summary API
(``/stats/summary``) a container's writable layer (its ``rootfs`` and the pod's ephemeral storage)
and a sandbox's network counters (with the PodAndContainerStatsFromCRI feature gate); for its
evented PLEG, STOPPED events whose statuses show the container exited (a removed sandbox's events
carry its metadata: test_cri_events_metrics)."""

from __future__ import annotations

import os

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config, wait_state
from tests.integration.cri.test_cri_events_metrics import _follow
from tests.integration.engine_cli.conftest import wait_for


def test_stats_carry_the_writable_layer_and_the_pods_network(cri: Cri) -> None:
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("stats"))).pod_sandbox_id
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="writer"),
        image=pb.ImageSpec(image=IMAGE),
        command=["sh", "-c", "head -c 1048576 /dev/zero >/written; exec sleep 1000"],
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    cid = cri.runtime.CreateContainer(request).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")

    def layer() -> pb.FilesystemUsage:
        return cri.runtime.ContainerStats(pb.ContainerStatsRequest(container_id=cid)).stats.writable_layer

    wait_for(lambda: layer().used_bytes.value >= 1 << 20, "the written file in the writable layer")
    written = layer()
    assert written.inodes_used.value >= 1 and written.timestamp > 0
    # The kubelet asks cAdvisor for the capacity of the filesystem at the mount point.
    assert os.stat(written.fs_id.mountpoint).st_dev == os.stat(cri.berth.root).st_dev
    listed = cri.runtime.ListContainerStats(pb.ListContainerStatsRequest()).stats
    assert [s.writable_layer.used_bytes.value >= 1 << 20 for s in listed] == [True]

    def network() -> pb.NetworkUsage:
        return cri.runtime.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats.linux.network

    before = network()
    assert before.default_interface.name == "eth0" and before.timestamp > 0
    assert [i.name for i in before.interfaces] == ["eth0"]
    ip = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.network.ip
    gateway = ip.rsplit(".", 1)[0] + ".1"
    refused = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["nc", gateway, "1"]))
    assert b"refused" in refused.stderr  # the gateway's answer came in on eth0
    assert network().default_interface.rx_bytes.value > before.default_interface.rx_bytes.value
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))


def test_a_stopped_event_shows_the_container_exited(cri: Cri) -> None:
    """The kubelet's evented PLEG keeps the statuses an event carries: a STOPPED event that showed
    the container still running (the engine logs the exit before it records it) left the kubelet
    sure it ran, and it never started it again."""
    events, call = _follow(cri)
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("ends"))).pod_sandbox_id
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="ends"),
        image=pb.ImageSpec(image=IMAGE),
        command=["sh", "-c", "exit 3"],
    )
    cid = cri.runtime.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    ).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))

    def stopped() -> list[pb.ContainerEventResponse]:
        return [
            e
            for e in list(events)
            if e.container_id == cid and e.container_event_type == pb.CONTAINER_STOPPED_EVENT
        ]

    wait_for(lambda: bool(stopped()), "the STOPPED event")
    call.cancel()
    (shown,) = [s for s in stopped()[0].containers_statuses if s.id == cid]
    assert (shown.state, shown.exit_code, shown.reason) == (pb.CONTAINER_EXITED, 3, "Error")
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
