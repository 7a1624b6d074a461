"""Where the CRI's handlers meet NRI: each lifecycle step's hook with the messages it needs, a
no-op when no NRI socket is configured.

A container's StopContainer goes out once per run, whoever saw the stop first: the CRI's stop
(StopContainer, StopPodSandbox, RemoveContainer of a running one) or the exit watcher
(``watch_exits``, for containers that end by themselves); ``Nri.stop_container`` keeps count.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from berth.cri.nri.messages import container_message, pod_message
from berth.cri.proto import nri_pb2
from berth.cri.service import Services, cri_record
from berth.engine.engine import Engine
from berth.engine.metadata import ContainerRecord, PodRecord
from berth.errors import BerthError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.cri.nri.adjust import Adjustment

log = logging.getLogger("berth.cri.nri")


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
    """CreateContainer of a created container, its adjustments applied to it; ``HookFailed`` if a
    plugin refuses it or its adjustments cannot be."""
    if services.nri is not None:
        services.nri.create_container(
            *_messages(engine, record), lambda merged: _adjust(engine, record, merged)
        )


def _adjust(engine: Engine, record: ContainerRecord, merged: Adjustment) -> None:
    """Edit the created container's config.json (nothing of it runs yet) as ``merged`` says, and
    its record's command and environment with it."""
    from berth.engine.containers.oci_config import write_config

    paths = engine.paths(record.id)
    spec = json.loads(paths.config_json.read_text())
    merged.apply(spec)
    write_config(paths, spec)
    process = spec["process"]
    engine.db.update_container(
        record.id, config={**record.config, "args": process["args"], "env": process["env"]}
    )


def update_container(
    services: Services, engine: Engine, record: ContainerRecord, resources: nri_pb2.LinuxResources
) -> Callable[[], None]:
    """UpdateContainer before the CRI's update of ``record`` to ``resources`` (``HookFailed`` if a
    plugin refuses it); what to call after it (the plugins' updates, PostUpdateContainer)."""
    if services.nri is None:
        return lambda: None
    return services.nri.update_container(*_messages(engine, record), resources)


def apply_updates(
    services: Services, updates: list[nri_pb2.ContainerUpdate], evictions: list[nri_pb2.ContainerEviction]
) -> list[nri_pb2.ContainerUpdate]:
    """Plugins' updates (new resources) and evictions (a stop at once, the reason as the container's
    message) of the CRI's containers, in that order; the updates that failed (logged)."""
    from berth.cri.nri.adjust import merge_resources, resource_values
    from berth.engine.containers.state import refresh
    from berth.engine.containers.stop import stop_container
    from berth.engine.containers.update import set_resources

    failed = []
    with services.engine() as engine:
        for update in updates:
            try:
                record = refresh(engine, _cri_container(engine, update.container_id))
                paths = engine.paths(record.id)
                wanted = json.loads(paths.config_json.read_text())["linux"].get("resources", {})
                merge_resources(wanted, resource_values(update.linux.resources))
                set_resources(engine, record, wanted)
            except (BerthError, OSError) as err:
                log.info("msg=nri-update-failed container=%s error=%s", update.container_id, err)
                failed.append(update)
        for eviction in evictions:
            try:
                record = _cri_container(engine, eviction.container_id)
                stop_container(engine, record.id, 0)
                engine.db.update_container(record.id, error=f"evicted by an NRI plugin: {eviction.reason}")
            except BerthError as err:
                log.info("msg=nri-eviction-failed container=%s error=%s", eviction.container_id, err)
    return failed


def _cri_container(engine: Engine, cid: str) -> ContainerRecord:
    record = engine.db.container(cid) if cid else None
    if record is None or record.id != cid or not _is_cri(record):
        raise NotFound(f"container {cid!r} not found")
    return record


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
