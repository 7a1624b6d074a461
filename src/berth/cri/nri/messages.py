"""The CRI's pods and containers as NRI sees them (nri.proto PodSandbox, Container)."""

from __future__ import annotations

from berth.cri.containers import cri_of, options_of
from berth.cri.proto import nri_pb2
from berth.cri.service import cri_record, nanoseconds, user_annotations
from berth.engine.engine import Engine
from berth.engine.metadata import (
    CONFIGURED,
    CREATED,
    EXITED,
    PAUSED,
    RUNNING,
    STOPPED,
    ContainerRecord,
    PodRecord,
)
from berth.errors import NotFound

_STATES = {
    CONFIGURED: nri_pb2.CONTAINER_CREATED,
    CREATED: nri_pb2.CONTAINER_CREATED,
    RUNNING: nri_pb2.CONTAINER_RUNNING,
    PAUSED: nri_pb2.CONTAINER_PAUSED,
    STOPPED: nri_pb2.CONTAINER_STOPPED,
    EXITED: nri_pb2.CONTAINER_STOPPED,
}


def pod_message(engine: Engine, pod: PodRecord) -> nri_pb2.PodSandbox:
    """The CRI sandbox ``pod``: its metadata, labels, annotations, handler, cgroup parent, the
    infra's pid and addresses."""
    from berth.cri.sandboxes import sandbox_ip

    record = cri_record(pod.annotations) or {}
    meta = record.get("metadata", {})
    try:
        infra: ContainerRecord | None = engine.db.container(pod.infra_id)
    except NotFound:
        infra = None
    ip = sandbox_ip(infra)
    return nri_pb2.PodSandbox(
        id=pod.id,
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        namespace=meta.get("namespace", ""),
        labels=pod.labels,
        annotations=user_annotations(pod.annotations),
        runtime_handler=record.get("runtime_handler", ""),
        linux=nri_pb2.LinuxPodSandbox(cgroup_parent=pod.cgroup_parent),
        pid=max(infra.pid, 0) if infra is not None and infra.state == RUNNING else 0,
        ips=[ip] if ip else [],
    )


def container_message(record: ContainerRecord) -> nri_pb2.Container:
    """The CRI container ``record``: its name, state, labels, annotations, command, environment,
    times and exit."""
    cri = cri_of(record) or {}
    options = options_of(record)
    exited = record.state in (STOPPED, EXITED)
    return nri_pb2.Container(
        id=record.id,
        pod_sandbox_id=cri.get("sandbox_id", record.pod),
        name=cri.get("metadata", {}).get("name", ""),
        state=_STATES.get(record.state, nri_pb2.CONTAINER_UNKNOWN),
        labels=options["labels"],
        annotations=user_annotations(options["annotations"]),
        args=list(record.config.get("args", [])),
        env=list(record.config.get("env", [])),
        pid=max(record.pid, 0) if record.state == RUNNING else 0,
        created_at=nanoseconds(record.created_at),
        started_at=nanoseconds(record.started_at),
        finished_at=nanoseconds(record.finished_at) if exited else 0,
        exit_code=(record.exit_code or 0) if exited else 0,
        status_message=record.error,
    )
