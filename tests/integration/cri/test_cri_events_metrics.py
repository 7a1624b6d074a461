"""GetContainerEvents (evented PLEG's stream), ListMetricDescriptors and ListPodSandboxMetrics
(cAdvisor's metrics from the cgroups), and Prometheus ``/metrics`` of ``berth cri serve``."""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import (
    IMAGE,
    Cri,
    sandbox_config,
    serving,
    wait_for,
    wait_state,
)
from tests.integration.engine_cli.conftest import Berth


@pytest.fixture
def served(imaged: Berth) -> Iterator[tuple[Cri, str]]:
    """A server with Prometheus metrics on a free port, and their URL."""
    with serving(imaged, 'metrics_address = "127.0.0.1:0"\n') as cri:
        log = cri.socket.parent / "cri.log"
        wait_for(lambda: "msg=serving" in log.read_text(), "the serving line")
        url = re.search(r"metrics=(\S+)", log.read_text())
        assert url is not None
        yield cri, url.group(1)


def _follow(cri: Cri) -> tuple[list[Any], Any]:
    """The events streamed from now on (a list filled by a thread), and the call to cancel."""
    received: list[Any] = []
    call = cri.runtime.GetContainerEvents(pb.GetEventsRequest())

    def read() -> None:
        with contextlib.suppress(Exception):  # the cancel at the end ends the iteration with an error
            received.extend(call)

    threading.Thread(target=read, daemon=True).start()
    # The stream tells of what happens once the server took the call: wait for that.
    log = cri.socket.parent / "cri.log"
    wait_for(lambda: "rpc=GetContainerEvents msg=streaming" in log.read_text(), "the stream's start")
    return received, call


def test_events_metrics_and_prometheus(served: tuple[Cri, str]) -> None:
    cri, url = served
    events, call = _follow(cri)
    config = sandbox_config("metrics")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app"),
        image=pb.ImageSpec(image=IMAGE),
        command=["sleep", "1000"],
        linux=pb.LinuxContainerConfig(
            resources=pb.LinuxContainerResources(
                cpu_quota=20_000, cpu_period=100_000, memory_limit_in_bytes=64 << 20
            )
        ),
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=config)
    cid = cri.runtime.CreateContainer(request).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")
    # A streamed event carries the statuses of when the stream read it: let it read the start
    # before anything stops (on a busy host it can lag the calls by seconds).
    wait_for(lambda: len(events) >= 4, "the container's start event")
    cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo hi > /written"]))

    descriptors = cri.runtime.ListMetricDescriptors(pb.ListMetricDescriptorsRequest()).descriptors
    keys = {d.name: list(d.label_keys) for d in descriptors}
    assert all(d.help and d.label_keys[:4] == ["container", "id", "image", "name"] for d in descriptors)
    (pod,) = cri.runtime.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest()).pod_metrics
    assert pod.pod_sandbox_id == sid and [c.container_id for c in pod.container_metrics] == [cid]
    values = {m.name: m for m in pod.container_metrics[0].metrics}
    for metric in [*pod.metrics, *values.values()]:
        assert len(metric.label_values) == len(keys[metric.name]), metric.name
    assert values["container_spec_cpu_quota"].value.value == 20_000
    assert values["container_spec_memory_limit_bytes"].value.value == 64 << 20
    assert values["container_memory_usage_bytes"].value.value > 0
    assert values["container_processes"].value.value >= 1
    assert values["container_fs_usage_bytes"].value.value > 0  # /written in the writable layer
    assert values["container_start_time_seconds"].value.value > 0
    assert any(m.name == "container_network_transmit_packets_total" for m in pod.metrics)

    scraped = urllib.request.urlopen(url, timeout=30).read().decode()
    assert 'berth_cri_requests_total{method="RunPodSandbox",code="OK"} 1' in scraped
    assert 'berth_cri_request_duration_seconds_count{method="StartContainer"} 1' in scraped
    assert 'berth_cri_containers{state="CONTAINER_RUNNING"} 1' in scraped
    assert 'berth_cri_pod_sandboxes{state="SANDBOX_READY"} 1' in scraped

    cri.runtime.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    wanted = [
        (sid, "CONTAINER_CREATED_EVENT"),
        (sid, "CONTAINER_STARTED_EVENT"),
        (cid, "CONTAINER_CREATED_EVENT"),
        (cid, "CONTAINER_STARTED_EVENT"),
        (cid, "CONTAINER_STOPPED_EVENT"),
        (cid, "CONTAINER_DELETED_EVENT"),
        (sid, "CONTAINER_STOPPED_EVENT"),
        (sid, "CONTAINER_DELETED_EVENT"),
    ]

    def seen() -> list[tuple[str, str]]:
        return [(e.container_id, pb.ContainerEventType.Name(e.container_event_type)) for e in events]

    wait_for(lambda: len(events) >= len(wanted), "the events")
    call.cancel()
    assert seen() == wanted
    started = events[3]
    assert started.pod_sandbox_status.id == sid
    assert [s.id for s in started.containers_statuses] == [cid]
    # A removed sandbox's event carries its last status (the kubelet finds the pod by its uid).
    gone = events[-1]
    assert (gone.container_id, gone.pod_sandbox_status.metadata.uid) == (sid, "uid-metrics")
    assert gone.pod_sandbox_status.state == pb.SANDBOX_NOTREADY
    scraped = urllib.request.urlopen(url, timeout=30).read().decode()
    assert 'berth_cri_containers{state="CONTAINER_RUNNING"} 0' in scraped


def test_only_metrics_is_served(served: tuple[Cri, str]) -> None:
    _cri, url = served
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=30)
    assert err.value.code == 404
