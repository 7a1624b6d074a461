"""GetContainerEvents: the stream the kubelet's evented PLEG reads (api.proto ContainerEventResponse).

The engine writes every lifecycle step to its event log (``berth.events``); the stream follows that
log from the moment of the call and turns the container events of the CRI's pods into CRI events:
``create``, ``start``, ``died`` and ``remove`` are CONTAINER_CREATED/STARTED/STOPPED/DELETED. Each
carries the sandbox's status and its containers' statuses as they are when the event is read. A
sandbox's own events (its infra's) name the sandbox's id, as containerd's do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services, cri_record
from berth.engine.engine import Engine

#: Engine event status -> api.proto ContainerEventType.
EVENT_TYPES = {
    "create": "CONTAINER_CREATED_EVENT",
    "start": "CONTAINER_STARTED_EVENT",
    "died": "CONTAINER_STOPPED_EVENT",
    "remove": "CONTAINER_DELETED_EVENT",
}


def get_container_events(services: Services, request: Any, active: Callable[[], bool]) -> Iterator[Any]:
    """The CRI events of what happens from now on, until the client goes (``active()`` false)."""
    from berth.events import follow_events, log_path, parse_time

    with services.deliveries.stream() as sent:
        since = time.time()
        # The CRI's pods seen: id -> infra id and last status (remembered past their removal).
        seen: dict[str, tuple[str, Any]] = {}
        for event in follow_events(
            log_path(services.engine_config.root), poll=0.1, cancelled=lambda: not active()
        ):
            kind = EVENT_TYPES.get(event.get("Status", ""))
            if event.get("Type") != "container" or kind is None or not event.get("PodID"):
                continue
            try:
                if parse_time(event["Time"]) < since:
                    continue
            except (KeyError, ValueError):
                continue
            reply = _reply(services, event, kind, seen)
            if reply is not None:
                yield reply
                sent(reply.container_id, kind)  # (gRPC asks for the next reply once this one went)


def _reply(services: Services, event: dict[str, Any], kind: str, seen: dict[str, tuple[str, Any]]) -> Any:
    """The CRI event of an engine event in pod ``event["PodID"]``; None if the CRI did not make it.
    A removed sandbox's events carry its last status, not ready: the kubelet's evented PLEG finds
    the pod by its metadata (and drops the event without it)."""
    from berth.cri.containers import container_statuses
    from berth.cri.sandboxes import sandbox_status
    from berth.errors import NotFound
    from berth.events import parse_time

    pod_id = event["PodID"]
    with services.engine() as engine:
        try:
            pod = engine.db.pod(pod_id)
        except NotFound:
            pod = None
        if pod is None or cri_record(pod.annotations) is None:
            if pod_id not in seen:
                return None
            infra_id, status = seen[pod_id]
            status.state = pb.SANDBOX_NOTREADY
            statuses = []
        else:
            if kind == "CONTAINER_STOPPED_EVENT":
                _exit_recorded(engine, event["ID"])
            infra_id, status = pod.infra_id, sandbox_status(engine, pod)
            statuses = container_statuses(engine, pod.id)
            seen[pod_id] = (infra_id, status)
        is_infra = event["ID"] == infra_id
    return pb.ContainerEventResponse(
        container_id=pod_id if is_infra else event["ID"],
        container_event_type=kind,
        created_at=int(parse_time(event["Time"]) * 1e9),
        pod_sandbox_status=status,
        containers_statuses=statuses,
    )


def _exit_recorded(engine: Engine, container_id: str, limit: float = 5.0) -> None:
    """Wait (``limit`` seconds at most) until the engine has recorded the exit a ``died`` event
    told of: the monitor logs the event, then tears the container down, then updates its record.
    A STOPPED event whose statuses still show the container running is believed: the kubelet's
    evented PLEG keeps that status and never starts the container again."""
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import ACTIVE
    from berth.errors import NotFound

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if refresh(engine, engine.db.container(container_id)).state not in ACTIVE:
                return
        except NotFound:
            return
        time.sleep(0.02)
