"""ListContainers and ListPodSandbox answer from kept, encoded answers (``berth.cri.snapshot``);
these tests show that every change is in the very next answer: made, started, stopped and removed
through the CRI or by the ``berth`` command writing the engine's database; and that filters and an
empty filter give what they should. The Stream* twins of the list RPCs (``berth.cri.streamed``)
answer the same items."""

from __future__ import annotations

from typing import Any

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config


def _containers(cri: Cri, **wanted: object) -> dict[str, int]:
    """Each listed container's state by id (``wanted``: a ContainerFilter's fields)."""
    request = pb.ListContainersRequest(filter=pb.ContainerFilter(**wanted))  # type: ignore[arg-type]
    return {c.id: c.state for c in cri.runtime.ListContainers(request).containers}


def _sandboxes(cri: Cri, **wanted: object) -> dict[str, int]:
    """Each listed sandbox's state by id (``wanted``: a PodSandboxFilter's fields)."""
    request = pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(**wanted))  # type: ignore[arg-type]
    return {s.id: s.state for s in cri.runtime.ListPodSandbox(request).items}


def _create(cri: Cri, sid: str, name: str) -> str:
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name),
        image=pb.ImageSpec(image=IMAGE),
        command=["sleep", "1000"],
        labels={"name": name},
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    return str(cri.runtime.CreateContainer(request).container_id)


def test_every_change_is_in_the_next_answer(cri: Cri) -> None:
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("listed"))).pod_sandbox_id
    assert _sandboxes(cri) == {sid: pb.SANDBOX_READY}
    assert _containers(cri) == {}

    first = _create(cri, sid, "first")
    assert _containers(cri) == {first: pb.CONTAINER_CREATED}
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=first))
    assert _containers(cri) == {first: pb.CONTAINER_RUNNING}
    second = _create(cri, sid, "second")
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=second))
    assert _containers(cri) == {first: pb.CONTAINER_RUNNING, second: pb.CONTAINER_RUNNING}

    # Filters select from the kept answer; an empty filter is no filter (the kubelet's relist).
    assert _containers(cri, id=first[:10]) == {first: pb.CONTAINER_RUNNING}
    assert _containers(cri, label_selector={"name": "second"}) == {second: pb.CONTAINER_RUNNING}
    assert _containers(cri, pod_sandbox_id="0" if sid[0] != "0" else "1") == {}
    running = pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)
    assert set(_containers(cri, state=running)) == {first, second}
    empty = cri.runtime.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter()))
    assert empty == cri.runtime.ListContainers(pb.ListContainersRequest())

    # The berth command writes the engine's database: the next answer has it.
    cri.berth("stop", "-t", "0", second)
    assert _containers(cri) == {first: pb.CONTAINER_RUNNING, second: pb.CONTAINER_EXITED}
    assert _containers(cri, state=running) == {first: pb.CONTAINER_RUNNING}
    cri.berth("rm", second)
    assert _containers(cri) == {first: pb.CONTAINER_RUNNING}

    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=first))
    assert _containers(cri) == {}
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert _sandboxes(cri) == {}


def test_a_stopped_sandbox_is_not_ready_at_once(cri: Cri) -> None:
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("stopped"))).pod_sandbox_id
    other = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("other"))).pod_sandbox_id
    assert _sandboxes(cri) == {sid: pb.SANDBOX_READY, other: pb.SANDBOX_READY}
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert _sandboxes(cri) == {sid: pb.SANDBOX_NOTREADY, other: pb.SANDBOX_READY}
    assert _sandboxes(cri, state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)) == {other: pb.SANDBOX_READY}
    assert _sandboxes(cri, id=other[:8]) == {other: pb.SANDBOX_READY}
    cri.berth("pod", "rm", "-f", other)  # the engine's own command
    assert _sandboxes(cri) == {sid: pb.SANDBOX_NOTREADY}
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert _sandboxes(cri) == {}


def _streamed(call: Any, request: Any, field: str) -> list[Any]:
    """Every item of a Stream* RPC's messages, checking each message has at least one."""
    messages = list(call(request))
    assert all(getattr(m, field) for m in messages), "a stream message without items"
    return [item for m in messages for item in getattr(m, field)]


def test_the_streamed_twins_answer_as_the_lists(cri: Cri) -> None:
    runtime = cri.runtime
    assert _streamed(runtime.StreamContainers, pb.StreamContainersRequest(), "containers") == []
    sids = [
        runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(name))).pod_sandbox_id
        for name in ("one", "two")
    ]
    cids = [_create(cri, sid, f"c{n}") for n, sid in enumerate(sids)]
    for cid in cids:
        runtime.StartContainer(pb.StartContainerRequest(container_id=cid))

    listed = runtime.ListContainers(pb.ListContainersRequest()).containers
    assert _streamed(runtime.StreamContainers, pb.StreamContainersRequest(), "containers") == list(listed)
    only = pb.ContainerFilter(label_selector={"name": "c1"})
    assert [c.id for c in _streamed(runtime.StreamContainers, pb.StreamContainersRequest(filter=only),
                                    "containers")] == [cids[1]]  # fmt: skip
    sandboxes = runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items
    streamed = _streamed(runtime.StreamPodSandboxes, pb.StreamPodSandboxesRequest(), "pod_sandboxes")
    assert streamed == list(sandboxes) and len(streamed) == 2

    stats = _streamed(runtime.StreamContainerStats, pb.StreamContainerStatsRequest(), "container_stats")
    assert sorted(s.attributes.id for s in stats) == sorted(cids)
    pod_stats = _streamed(
        runtime.StreamPodSandboxStats, pb.StreamPodSandboxStatsRequest(), "pod_sandbox_stats"
    )
    assert sorted(s.attributes.id for s in pod_stats) == sorted(sids)
    metrics = _streamed(
        runtime.StreamPodSandboxMetrics, pb.StreamPodSandboxMetricsRequest(), "pod_sandbox_metrics"
    )
    listed_metrics = runtime.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest()).pod_metrics
    assert sorted(m.pod_sandbox_id for m in metrics) == sorted(m.pod_sandbox_id for m in listed_metrics)
    images = _streamed(cri.images.StreamImages, pb.StreamImagesRequest(), "images")
    assert [i.id for i in images] == [i.id for i in cri.images.ListImages(pb.ListImagesRequest()).images]

    for sid in sids:
        runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
