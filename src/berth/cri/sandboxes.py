"""Sandboxes: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox.

A sandbox is an engine pod (``berth.engine.pods``) whose infra container runs the pause image and
holds the network, IPC and UTS namespaces; it is ready while the infra runs. Its id is the pod's.
"""

from __future__ import annotations

import json
import socket
from typing import Any, NamedTuple

from berth.cri.proto import api_pb2 as pb
from berth.cri.service import (
    RECORD_KEY,
    Services,
    cri_record,
    find_made,
    matches_labels,
    nanoseconds,
    require,
    unless_gone,
    user_annotations,
)
from berth.cri.snapshot import Listing
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, EXITED, RUNNING, STOPPED, ContainerRecord, PodRecord
from berth.errors import InvalidArgument, NotFound

# api.proto NamespaceMode: the node's namespace instead of the pod's.
_NODE = pb.NamespaceMode.Value("NODE")
_POD = pb.NamespaceMode.Value("POD")


def run_pod_sandbox(services: Services, request: Any) -> Any:
    """Make the engine pod and start its infra, then ask NRI's plugins (meanwhile the sandbox is
    not shown); on any failure nothing is left."""
    from berth.cri.nri import hooks
    from berth.engine.pods.create import create_pod
    from berth.engine.pods.remove import remove_pod

    config = request.config
    meta = config.metadata
    require(meta.name, "config.metadata.name")
    require(meta.namespace, "config.metadata.namespace")
    record = {
        "kind": "sandbox",
        "metadata": {
            "name": meta.name,
            "uid": meta.uid,
            "namespace": meta.namespace,
            "attempt": meta.attempt,
        },
        "log_directory": config.log_directory,
        "runtime_handler": request.runtime_handler,
        # Set in each container (they share the infra's network and IPC namespaces).
        "sysctls": dict(config.linux.sysctls),
        # The pod's user namespace mappings, given to each container too (the runtime needs them).
        "idmaps": _user_namespace(services, request),
    }
    if services.config.sandbox_image:
        from berth.cri.images import pull_missing

        pull_missing(services, services.config.sandbox_image)
    with services.engine() as engine:
        pod = create_pod(engine, _pod_options(services, engine, config, record))
        with services.hiding(pod.id):
            try:
                services.starter.start(pod.infra_id)
                hooks.run_pod_sandbox(services, engine, pod)
            except BaseException:
                remove_pod(engine, pod.id, force=True)
                raise
    return pb.RunPodSandboxResponse(pod_sandbox_id=pod.id)


def _user_namespace(services: Services, request: Any) -> dict[str, list[str]]:
    """The pod's user namespace mappings as ``--uidmap``/``--gidmap`` (none: the node's namespace).
    api.proto UserNamespace (unset: NODE): mode POD takes one uid and one gid mapping that maps
    container id 0,
    on a handler whose runtime has user namespaces; NODE is the node's; the other modes are
    refused. (An unknown handler is refused here too.)"""
    handler = request.runtime_handler
    runtime = services.config.runtime_for(handler)
    options = request.config.linux.security_context.namespace_options
    userns = options.userns_options
    mode = pb.NamespaceMode.Name(userns.mode)
    if not options.HasField("userns_options") or mode == "NODE":  # unset: the node's, as ever
        return {}
    if mode != "POD":
        raise InvalidArgument(f"user namespace mode {mode} is not supported: want POD or NODE")
    if not services.handler_features().get(handler, {}).get("user_namespaces"):
        raise InvalidArgument(f"runtime handler {handler!r} ({runtime}) has no user namespaces")
    maps = {}
    for key, mappings in (("uidmap", userns.uids), ("gidmap", userns.gids)):
        if len(mappings) != 1 or mappings[0].container_id != 0 or mappings[0].length == 0:
            raise InvalidArgument(
                f"user namespace {key[:3]}s: want one mapping of container id 0, got "
                + (", ".join(f"{m.container_id}:{m.host_id}:{m.length}" for m in mappings) or "none")
            )
        maps[key] = [f"{m.container_id}:{m.host_id}:{m.length}" for m in mappings]
    return maps


def _pod_options(services: Services, engine: Engine, config: Any, record: dict[str, Any]) -> Any:
    from berth.cri.cni import pod_network
    from berth.engine.pods.options import PodOptions

    meta = config.metadata
    namespaces = config.linux.security_context.namespace_options
    dns = config.dns_config
    idmaps = record["idmaps"]
    return PodOptions(
        name=f"k8s_{meta.name}_{meta.namespace}_{meta.uid}_{meta.attempt}",
        # No hostname (the kubelet sends one unless hostNetwork): the node's, as containerd does;
        # the pod's name is too long for sethostname (64 bytes).
        hostname=config.hostname or socket.gethostname(),
        labels=dict(config.labels),
        annotations={**config.annotations, RECORD_KEY: json.dumps(record)},
        publish=[_publish(p) for p in config.port_mappings if _valid_port_mapping(p).host_port > 0],
        network="host" if namespaces.network == _NODE else pod_network(services, engine),
        share=[*_shared(namespaces), *(["user"] if idmaps else [])],
        uidmap=idmaps.get("uidmap", []),
        gidmap=idmaps.get("gidmap", []),
        infra_image=services.config.sandbox_image,
        infra_runtime=services.config.runtime_for(record["runtime_handler"]),
        # The kubelet's pod cgroup (cgroupfs driver): the pod's own is made below it.
        cgroup_parent=config.linux.cgroup_parent,
        dns=list(dns.servers),
        dns_search=list(dns.searches),
        dns_option=list(dns.options),
        cpus="",
        memory="",
    )


def _shared(namespaces: Any) -> list[str]:
    """The infra namespaces the containers join: its network and UTS always (with hostNetwork the
    infra is in the node's), its IPC unless the node's is used, its PID with a pod-wide one."""
    share = ["net", "uts"]
    if namespaces.ipc != _NODE:
        share.append("ipc")
    if namespaces.pid == _POD:
        share.append("pid")
    return share


def _valid_port_mapping(mapping: Any) -> Any:
    """``mapping`` if its protocol is one of api.proto Protocol's, its container port a port and
    its host port a port or 0 (none); InvalidArgument naming the field otherwise."""
    import ipaddress

    if mapping.protocol not in pb.Protocol.values():
        raise InvalidArgument(f"port_mappings: unknown protocol {mapping.protocol}")
    if not 0 < mapping.container_port <= 65535:
        raise InvalidArgument(f"port_mappings: container_port {mapping.container_port} is not a port")
    if not 0 <= mapping.host_port <= 65535:
        raise InvalidArgument(f"port_mappings: host_port {mapping.host_port} is not a port (or 0)")
    if mapping.host_ip:
        try:
            ipaddress.ip_address(mapping.host_ip)
        except ValueError:
            raise InvalidArgument(
                f"port_mappings: host_ip {mapping.host_ip!r} is not an IP address"
            ) from None
    return mapping


def _publish(mapping: Any) -> str:
    """A PortMapping as ``-p``'s ``[IP:]HOST:CONTAINER/PROTO``."""
    protocol = pb.Protocol.Name(mapping.protocol).lower()
    host = f"{mapping.host_ip}:" if mapping.host_ip else ""
    return f"{host}{mapping.host_port}:{mapping.container_port}/{protocol}"


def stop_pod_sandbox(services: Services, request: Any) -> Any:
    """Stop every container of the pod, the infra last (which releases its network); an unknown
    id succeeds, as the CRI asks (the kubelet stops a sandbox many times)."""
    unless_gone(services, request.pod_sandbox_id, "pod_sandbox_id", _find, lambda e, p: _stop(services, e, p))
    return pb.StopPodSandboxResponse()


def _stop(services: Services, engine: Engine, pod: PodRecord) -> None:
    """With NRI, a ready sandbox's containers are stopped first and told of, then StopPodSandbox
    is (once: a stopped sandbox is not ready); then the infra stops."""
    from berth.cri.nri import hooks
    from berth.engine.containers.stop import stop_container
    from berth.engine.pods.lifecycle import stop_pod

    infra = _infra(engine, pod)
    if services.nri is not None and infra is not None and infra.state == RUNNING:
        from berth.cri.containers import cri_of
        from berth.engine.containers.state import refresh

        for member in [r for r in engine.db.containers() if r.pod == pod.id and cri_of(r) is not None]:
            state = refresh(engine, member).state
            if state == RUNNING:
                stop_container(engine, member.id, 0)
            if state in ACTIVE or state in (STOPPED, EXITED):  # it ran: StopContainer (once)
                hooks.container_stopped(services, engine, refresh(engine, engine.db.container(member.id)))
        hooks.stop_pod_sandbox(services, engine, pod)
    stop_pod(engine, pod.id, 0)


def remove_pod_sandbox(services: Services, request: Any) -> Any:
    """Remove the pod and its containers, running or not; an unknown id succeeds."""
    from berth.cri.nri import hooks
    from berth.engine.pods.remove import remove_pod

    def remove(engine: Engine, pod: PodRecord) -> None:
        _stop(services, engine, pod)
        tell = hooks.remove_pod_sandbox(services, engine, pod)
        remove_pod(engine, pod.id, force=True)
        tell()

    unless_gone(services, request.pod_sandbox_id, "pod_sandbox_id", _find, remove)
    return pb.RemovePodSandboxResponse()


def pod_sandbox_status(services: Services, request: Any) -> Any:
    """The sandbox's state, times, network address and metadata."""
    require(request.pod_sandbox_id, "pod_sandbox_id")
    with services.engine() as engine:
        pod = find_sandbox(services, engine, request.pod_sandbox_id)
        status = sandbox_status(engine, pod)
    return pb.PodSandboxStatusResponse(status=status)


def sandbox_status(engine: Engine, pod: PodRecord) -> Any:
    """The api.proto PodSandboxStatus of a CRI pod now."""
    return _status(pod, _infra(engine, pod))


class ListedSandbox(NamedTuple):
    """A sandbox as ListPodSandbox's filters see it."""

    id: str
    state: int  # api.proto PodSandboxState
    labels: dict[str, str]


def list_pod_sandbox(services: Services, request: Any) -> bytes:
    """The CRI's sandboxes, filtered by id (a prefix), state and labels, as the encoded
    ListPodSandboxResponse; from memory while nothing changed (``berth.cri.snapshot``)."""
    return services.listed(_every_sandbox, request.filter, _sandbox_selected)


def _every_sandbox(engine: Engine) -> tuple[Listing[ListedSandbox], list[int]]:
    """Every CRI sandbox now, and the monitors of the infra containers that run (a sandbox is ready
    while its infra runs)."""
    listed, monitors = [], []
    for pod in engine.db.pods():
        record = cri_record(pod.annotations)
        if record is None:
            continue
        infra = _infra(engine, pod)
        if infra is not None and infra.state == RUNNING and infra.monitor_pid > 0:
            monitors.append(infra.monitor_pid)
        message = pb.PodSandbox(
            id=pod.id,
            metadata=pb.PodSandboxMetadata(**record["metadata"]),
            state=_state(infra),
            created_at=nanoseconds(pod.created_at),
            labels=pod.labels,
            annotations=user_annotations(pod.annotations),
            runtime_handler=record["runtime_handler"],
        )
        listed.append((ListedSandbox(pod.id, message.state, dict(pod.labels)), message))
    return Listing(pb.ListPodSandboxResponse, "items", listed), monitors


def _sandbox_selected(wanted: Any, sandbox: ListedSandbox) -> bool:
    if wanted.id and not sandbox.id.startswith(wanted.id):
        return False
    if wanted.HasField("state") and wanted.state.state != sandbox.state:
        return False
    return matches_labels(sandbox.labels, wanted.label_selector)


def find_sandbox(services: Services, engine: Engine, ref: str) -> PodRecord:
    """The CRI sandbox ``ref`` (an id or a unique prefix of one), unless an NRI hook is still
    deciding on it; NotFound otherwise."""
    pod = _find(engine, require(ref, "pod_sandbox_id"))
    assert pod is not None
    if services.hidden(pod.id):
        raise NotFound(f"pod sandbox {ref!r} not found")
    return pod


def sandbox_ready(engine: Engine, pod: PodRecord) -> bool:
    """Whether the sandbox's infra runs."""
    return _state(_infra(engine, pod)) == "SANDBOX_READY"


def _find(engine: Engine, ref: str, missing_ok: bool = False) -> PodRecord | None:
    made = find_made(
        engine.db.pod, lambda pod: cri_record(pod.annotations) is not None, ref, "pod sandbox", missing_ok
    )
    return made


def _infra(engine: Engine, pod: PodRecord) -> ContainerRecord | None:
    from berth.engine.containers.state import refresh

    try:
        return refresh(engine, engine.db.container(pod.infra_id))
    except NotFound:
        return None


def _state(infra: ContainerRecord | None) -> str:
    """The sandbox's api.proto PodSandboxState: ready while its infra runs."""
    return "SANDBOX_READY" if infra is not None and infra.state == RUNNING else "SANDBOX_NOTREADY"


def _status(pod: PodRecord, infra: ContainerRecord | None) -> Any:
    record = cri_record(pod.annotations) or {}
    options = pod.config
    host_network = options.get("network") == "host"
    mode = pb.NamespaceMode.Value("NODE" if host_network else "POD")
    return pb.PodSandboxStatus(
        id=pod.id,
        metadata=pb.PodSandboxMetadata(**record.get("metadata", {})),
        state=_state(infra),
        created_at=nanoseconds(pod.created_at),
        network=pb.PodSandboxNetworkStatus(ip=sandbox_ip(infra)),
        linux=pb.LinuxPodSandboxStatus(
            namespaces=pb.Namespace(
                options=pb.NamespaceOption(network=mode, pid=pb.NamespaceMode.Value("CONTAINER"))
            )
        ),
        labels=pod.labels,
        annotations=user_annotations(pod.annotations),
        runtime_handler=record.get("runtime_handler", ""),
    )


def sandbox_ip(infra: ContainerRecord | None) -> str:
    """The infra's first IP address from its CNI result ("" with the host's network or none)."""
    if infra is None or infra.state != RUNNING:
        return ""
    for attachment in infra.networks.values():
        for ip in attachment.get("result", {}).get("ips", []):
            return str(ip.get("address", "")).split("/")[0]
    return ""
