"""What ``pod inspect`` and ``pod ps`` show of a pod, in podman's field names."""

from __future__ import annotations

from berth.engine.containers.inspect import stamp
from berth.engine.containers.pod_member import is_infra
from berth.engine.engine import Engine
from berth.engine.metadata import ContainerRecord, PodRecord, shown_state
from berth.engine.options import parse_publish
from berth.engine.pods.options import PodOptions
from berth.engine.pods.status import pod_containers, status_of

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def _port_bindings(publish: list[str]) -> dict[str, list[dict[str, str]]]:
    bindings: dict[str, list[dict[str, str]]] = {}
    for mapping in (parse_publish(p) for p in publish):
        key = f"{mapping.container_port}/{mapping.protocol}"
        bindings.setdefault(key, []).append({"HostIp": mapping.host_ip, "HostPort": str(mapping.host_port)})
    return bindings


def _networks(pod: PodRecord) -> list[str]:
    return (
        [pod.config["network"]] if pod.infra_id and pod.config.get("network") not in ("none", "host") else []
    )


def _infra_id(pod: PodRecord, members: list[ContainerRecord]) -> str:
    """The infra among ``members``, else the one the pod's record names."""
    return next((c.id for c in members if is_infra(c)), pod.infra_id)


def _cgroup_parent(pod: PodRecord) -> str:
    """The cgroup the pod's own cgroup sits in (podman's ``CgroupParent``)."""
    return pod.cgroup_parent.rsplit("/", 1)[0] or "/"


def inspect_pod(engine: Engine, pod: PodRecord) -> dict[str, Any]:
    """``pod inspect``'s document (podman's keys, the fields Berth knows)."""
    opts = PodOptions.from_json(pod.config)
    members = pod_containers(engine, pod)
    infra_id = _infra_id(pod, members)
    return {
        "Id": pod.id,
        "Name": pod.name,
        "Created": stamp(pod.created_at),
        "State": status_of([c.state for c in members]),
        "Hostname": opts.hostname,
        "Labels": pod.labels,
        "Annotations": pod.annotations,
        "CreateCgroup": True,
        "CgroupParent": _cgroup_parent(pod),
        "CgroupPath": pod.cgroup_parent,
        "CreateInfra": opts.infra,
        "InfraContainerID": infra_id,
        "InfraContainerId": infra_id,  # the spelling of Berth's pod API contract
        "InfraConfig": {
            "PortBindings": _port_bindings(opts.publish),
            "HostNetwork": pod.config.get("network") == "host",
            "DNSServer": opts.dns or None,
            "DNSSearch": opts.dns_search or None,
            "DNSOption": opts.dns_option or None,
            "HostAdd": opts.add_host or None,
            "Networks": _networks(pod),
            "NetworkOptions": None,
        }
        if opts.infra
        else None,
        "SharedNamespaces": sorted(opts.share) if opts.infra else None,
        "NumContainers": len(members),
        "Containers": [{"Id": c.id, "Name": c.name, "State": shown_state(c.state)} for c in members],
    }


def ps_row(pod: PodRecord, members: list[ContainerRecord]) -> dict[str, Any]:
    """One ``pod ps --format json`` entry (podman's keys)."""
    return {
        "Cgroup": _cgroup_parent(pod),
        "Containers": [{"Id": c.id, "Names": c.name, "Status": shown_state(c.state)} for c in members],
        "Created": stamp(pod.created_at),
        "Id": pod.id,
        "InfraId": _infra_id(pod, members),
        "Name": pod.name,
        "Namespace": "",
        "Networks": _networks(pod),
        "Status": status_of([c.state for c in members]),
        "Labels": pod.labels,
    }
