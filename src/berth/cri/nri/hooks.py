"""Where the CRI's handlers meet NRI: each lifecycle step's hook with the messages it needs, a
no-op when no NRI socket is configured.

A container's StopContainer goes out once per run, whoever saw the stop first: the CRI's stop
(StopContainer, StopPodSandbox, RemoveContainer of a running one) or the exit watcher
(``watch_exits``, for containers that end by themselves); ``Nri.stop_container`` keeps count.
"""

from __future__ import annotations

from collections.abc import Callable

from berth.cri.nri.messages import container_message, pod_message
from berth.cri.proto import nri_pb2
from berth.cri.service import Services, cri_record
from berth.engine.engine import Engine
from berth.engine.metadata import ContainerRecord, PodRecord
from berth.errors import NotFound


def run_pod_sandbox(services: Services, engine: Engine, pod: PodRecord) -> None:
    """RunPodSandbox of a started sandbox; ``HookFailed`` if a plugin refuses it."""
    if services.nri is not None:
        services.nri.run_pod_sandbox(pod_message(engine, pod))


def stop_pod_sandbox(services: Services, engine: Engine, pod: PodRecord) -> None:
    """StopPodSandbox, its containers stopped before."""
    if services.nri is not None:
        services.nri.stop_pod_sandbox(pod_message(engine, pod))


def remove_pod_sandbox(services: Services, engine: Engine, pod: PodRecord) -> Callable[[], None]:
    """What to tell once the sandbox is removed: RemoveContainer of each of its containers, then
    RemovePodSandbox (the messages are made now, while they exist)."""
    if services.nri is None:
        return lambda: None
    nri = services.nri
    pod_msg = pod_message(engine, pod)
    removed = [container_message(r) for r in engine.db.containers() if r.pod == pod.id and _is_cri(r)]

    def tell() -> None:
        for container in removed:
            nri.remove_container(pod_msg, container)
        nri.remove_pod_sandbox(pod_msg)

    return tell


def create_container(services: Services, engine: Engine, record: ContainerRecord) -> None:
    """CreateContainer of a created container; ``HookFailed`` if a plugin refuses it."""
    if services.nri is not None:
        services.nri.create_container(*_messages(engine, record))


def start_container(services: Services, engine: Engine, record: ContainerRecord) -> Callable[[], None]:
    """StartContainer before the start (``HookFailed`` if a plugin refuses it); what to tell once
    it runs (PostStartContainer)."""
    if services.nri is None:
        return lambda: None
    nri = services.nri
    nri.start_container(*_messages(engine, record))

    def started() -> None:
        with services.engine() as after:
            nri.post_start_container(*_messages(after, after.db.container(record.id)))

    return started


def container_stopped(services: Services, engine: Engine, record: ContainerRecord) -> None:
    """StopContainer, unless it went out already for this run."""
    if services.nri is not None:
        services.nri.stop_container(*_messages(engine, record))


def remove_container(services: Services, engine: Engine, record: ContainerRecord) -> Callable[[], None]:
    """What to tell once the container is removed (RemoveContainer; its messages made now)."""
    if services.nri is None:
        return lambda: None
    nri = services.nri
    messages = _messages(engine, record)

    def tell() -> None:
        nri.remove_container(*messages)

    return tell


def watch_exits(services: Services, running: Callable[[], bool]) -> None:
    """Until ``running()`` is false: StopContainer for each CRI container that stops (the engine's
    event log followed, as GetContainerEvents does)."""
    from berth.cri.events import get_container_events
    from berth.cri.proto import api_pb2 as pb

    for event in get_container_events(services, None, running):
        if event.container_event_type != pb.CONTAINER_STOPPED_EVENT:
            continue
        with services.engine() as engine:
            try:
                record = engine.db.container(event.container_id)
            except NotFound:
                continue  # the sandbox's own (its infra), or removed since
            if _is_cri(record):
                container_stopped(services, engine, record)


def snapshot(services: Services) -> tuple[list[nri_pb2.PodSandbox], list[nri_pb2.Container]]:
    """The ready sandboxes and their containers, for a new plugin's Synchronize."""
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING

    with services.engine() as engine:
        records = {r.id: r for r in engine.db.containers()}
        pods = []
        for pod in engine.db.pods():
            infra = records.get(pod.infra_id)
            if cri_record(pod.annotations) is None or services.hidden(pod.id) or infra is None:
                continue
            if refresh(engine, infra).state == RUNNING:
                pods.append(pod)
        ready = {p.id for p in pods}
        containers = [
            container_message(refresh(engine, r))
            for r in records.values()
            if r.pod in ready and _is_cri(r) and not services.hidden(r.id)
        ]
        return [pod_message(engine, p) for p in pods], containers


def _messages(engine: Engine, record: ContainerRecord) -> tuple[nri_pb2.PodSandbox, nri_pb2.Container]:
    return pod_message(engine, engine.db.pod(record.pod)), container_message(record)


def _is_cri(record: ContainerRecord) -> bool:
    from berth.cri.containers import cri_of

    return cri_of(record) is not None
