"""ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats: one sample of the
cgroup counters (CPU time, memory, processes) of a container, or summed over a pod's containers."""

from __future__ import annotations

import time
from typing import Any

from berth.cri.containers import cri_of, find_container, options_of
from berth.cri.proto import api_pb2 as pb
from berth.cri.sandboxes import find_sandbox
from berth.cri.service import Services, cri_record, matches_labels, user_annotations
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord, PodRecord


def container_stats(services: Services, request: Any) -> Any:
    """The container's counters now (zero for one that is not running)."""
    with services.engine() as engine:
        return pb.ContainerStatsResponse(
            stats=_container(engine, find_container(services, engine, request.container_id))
        )


def list_container_stats(services: Services, request: Any) -> Any:
    """Counters of the CRI's containers, filtered by id, sandbox id (prefixes) and labels."""
    wanted = request.filter
    stats = []
    with services.engine() as engine:
        for record in engine.db.containers():
            cri = cri_of(record)
            if cri is None or not record.id.startswith(wanted.id):
                continue
            if not cri["sandbox_id"].startswith(wanted.pod_sandbox_id):
                continue
            if matches_labels(options_of(record)["labels"], wanted.label_selector):
                stats.append(_container(engine, record))
    return pb.ListContainerStatsResponse(stats=stats)


def pod_sandbox_stats(services: Services, request: Any) -> Any:
    """The pod's counters: its containers' (the infra's included) added up."""
    with services.engine() as engine:
        return pb.PodSandboxStatsResponse(
            stats=_pod(engine, find_sandbox(services, engine, request.pod_sandbox_id))
        )


def list_pod_sandbox_stats(services: Services, request: Any) -> Any:
    """Counters of the CRI's sandboxes, filtered by id prefix and labels."""
    wanted = request.filter
    with services.engine() as engine:
        pods = [
            p
            for p in engine.db.pods()
            if cri_record(p.annotations) is not None
            and p.id.startswith(wanted.id)
            and matches_labels(p.labels, wanted.label_selector)
        ]
        return pb.ListPodSandboxStatsResponse(stats=[_pod(engine, p) for p in pods])


def _sample(engine: Engine, record: ContainerRecord) -> dict[str, int]:
    from berth.engine.containers.observe import cgroup_sample
    from berth.engine.containers.state import refresh

    record = refresh(engine, record)
    if record.state not in ACTIVE:
        return {"cpu_ns": 0, "mem_usage": 0, "mem_limit": 0, "pids": 0}
    return cgroup_sample(engine, record)


def _usage(sample: dict[str, int], now: int) -> tuple[Any, Any]:
    cpu = pb.CpuUsage(timestamp=now, usage_core_nano_seconds=pb.UInt64Value(value=sample["cpu_ns"]))
    memory = pb.MemoryUsage(
        timestamp=now,
        working_set_bytes=pb.UInt64Value(value=sample["mem_usage"]),
        usage_bytes=pb.UInt64Value(value=sample["mem_usage"]),
    )
    return cpu, memory


def _writable_layer(engine: Engine, record: ContainerRecord, now: int) -> Any:
    """The bytes and inodes the container wrote to its root (its overlay's upper directory), on
    the snapshotter's filesystem: the kubelet's summary shows them as the container's ``rootfs``
    and counts them in the pod's ephemeral storage (api.proto ContainerStats.writable_layer)."""
    from berth.cri.images import filesystem_usage
    from berth.engine.images.store import snapshotter
    from berth.errors import NotFound

    snapshots = snapshotter(engine.config)
    try:
        active = snapshots.active(record.id)
    except NotFound:
        return None  # (a container removed meanwhile, or one on a rootfs of its own)
    layer = active.upper or active.rootfs
    return filesystem_usage(str(layer), now, mountpoint=str(snapshots.root))


def _container(engine: Engine, record: ContainerRecord) -> Any:
    cri = cri_of(record) or {}
    options = options_of(record)
    now = time.time_ns()
    cpu, memory = _usage(_sample(engine, record), now)
    return pb.ContainerStats(
        attributes=pb.ContainerAttributes(
            id=record.id,
            metadata=pb.ContainerMetadata(**cri.get("metadata", {})),
            labels=options["labels"],
            annotations=user_annotations(options["annotations"]),
        ),
        cpu=cpu,
        memory=memory,
        writable_layer=_writable_layer(engine, record, now),
    )


def _pod(engine: Engine, pod: PodRecord) -> Any:
    members = [c for c in engine.db.containers() if c.pod == pod.id]
    total = {"cpu_ns": 0, "mem_usage": 0, "mem_limit": 0, "pids": 0}
    for member in members:
        for key, value in _sample(engine, member).items():
            total[key] += value
    now = time.time_ns()
    cpu, memory = _usage(total, now)
    record = cri_record(pod.annotations) or {}
    return pb.PodSandboxStats(
        attributes=pb.PodSandboxAttributes(
            id=pod.id,
            metadata=pb.PodSandboxMetadata(**record.get("metadata", {})),
            labels=pod.labels,
            annotations=user_annotations(pod.annotations),
        ),
        linux=pb.LinuxPodSandboxStats(
            cpu=cpu,
            memory=memory,
            network=_network(engine, pod, now),
            process=pb.ProcessUsage(timestamp=now, process_count=pb.UInt64Value(value=total["pids"])),
            containers=[_container(engine, m) for m in members if cri_of(m) is not None],
        ),
    )


def _network(engine: Engine, pod: PodRecord, now: int) -> Any:
    """The counters of the pod's interfaces, read in its infra's network namespace (``eth0``, the
    CNI interface, is the default, as the kubelet names it); none with the node's network or a
    stopped infra (api.proto LinuxPodSandboxStats.network)."""
    from berth.cri.metrics import interface_counters
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING
    from berth.errors import NotFound

    try:
        infra = refresh(engine, engine.db.container(pod.infra_id))
    except NotFound:
        return None
    if pod.config.get("network") == "host" or infra.state != RUNNING:
        return None
    # /proc/net/dev's columns: bytes 0, errors 2 received; bytes 8, errors 10 sent.
    interfaces = [
        pb.NetworkInterfaceUsage(
            name=name,
            rx_bytes=pb.UInt64Value(value=values[0]),
            rx_errors=pb.UInt64Value(value=values[2]),
            tx_bytes=pb.UInt64Value(value=values[8]),
            tx_errors=pb.UInt64Value(value=values[10]),
        )
        for name, values in interface_counters(infra.pid).items()
    ]
    default = next((i for i in interfaces if i.name == "eth0"), None)
    return pb.NetworkUsage(timestamp=now, default_interface=default, interfaces=interfaces)
