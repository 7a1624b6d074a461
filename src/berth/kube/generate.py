"""``kube generate``: a pod (or a lone container) as Kubernetes YAML that ``kube play``, Berth's
and podman's, accepts again.

The shape follows podman 4.3's ``kube generate``: a ``v1`` Pod with the pod's labels and
annotations, its hostname, restart policy and containers; named volumes become
``persistentVolumeClaim`` volumes (``<name>-pvc``), bind mounts ``hostPath`` and anonymous volumes
``emptyDir``. Unlike podman, a container keeps the name it had in the YAML (``<pod>-`` dropped), so
a round trip gives the same names, and its health check comes back as an exec liveness probe. A
lone container becomes a pod named ``<container>-pod``, as podman names it. With ``service``, a
NodePort Service publishes the pod's host ports, as podman's ``-s`` does.
"""

from __future__ import annotations

import shlex

from berth.errors import NotFound
from berth.kube.quantity import format_bytes, format_millicores

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.engine import Engine
    from berth.engine.metadata import ContainerRecord, PodRecord

_POLICIES = {"always": "Always", "on-failure": "OnFailure", "no": "Never", "unless-stopped": "Always"}
_HEALTH_ENDINGS = (" || kill 1", " || exit 1")
_PROBE_TIMING = (
    ("periodSeconds", "health_interval"),
    ("timeoutSeconds", "health_timeout"),
    ("failureThreshold", "health_retries"),
    ("initialDelaySeconds", "health_start_period"),
)


def generate_yaml(engine: Engine, refs: list[str], service: bool = False) -> str:
    """The YAML of the pods or containers ``refs`` (names or ids), one document each."""
    import yaml

    documents: list[dict[str, Any]] = []
    for ref in refs:
        pod, containers = _lookup(engine, ref)
        document = pod_document(pod, containers) if pod else lone_document(containers[0])
        documents.append(document)
        if service and _host_ports(document):
            documents.append(service_document(document))
    header = "# Made by berth kube generate; play it with berth kube play or podman kube play.\n"
    text: str = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
    return header + text


def _lookup(engine: Engine, ref: str) -> tuple[PodRecord | None, list[ContainerRecord]]:
    try:
        pod = engine.db.pod(ref)
    except NotFound:
        try:
            return None, [engine.db.container(ref)]
        except NotFound:
            raise NotFound(f"no such pod or container: {ref}") from None
    members = [c for c in engine.db.containers() if c.pod == pod.id and c.id != pod.infra_id]
    return pod, sorted(members, key=lambda c: c.created_at)


def pod_document(pod: PodRecord, containers: list[ContainerRecord]) -> dict[str, Any]:
    """A Pod object for ``pod`` and its (non-infra) ``containers``."""
    config = pod.config
    spec: dict[str, Any] = {}
    if config.get("hostname"):
        spec["hostname"] = config["hostname"]
    if config.get("network") == "host":
        spec["hostNetwork"] = True
    spec["restartPolicy"] = _restart_policy(_options(containers[0]) if containers else {})
    volumes: dict[str, dict[str, Any]] = {}
    prefix = f"{pod.name}-"
    inits = [c for c in containers if _options(c).get("init_ctr")]
    mains = [c for c in containers if not _options(c).get("init_ctr")]
    if inits:
        spec["initContainers"] = [_container(c, prefix, volumes) for c in inits]
    spec["containers"] = [_container(c, prefix, volumes) for c in mains]
    if spec["containers"] and config.get("publish"):
        spec["containers"][0]["ports"] = [_port(text) for text in config["publish"]]
    if volumes:
        spec["volumes"] = list(volumes.values())
    return _document(pod.name, pod.labels, pod.annotations, spec)


def lone_document(container: ContainerRecord) -> dict[str, Any]:
    """A Pod named ``<container>-pod`` holding ``container`` (podman's form for a lone container)."""
    options = _options(container)
    volumes: dict[str, dict[str, Any]] = {}
    entry = _container(container, "", volumes)
    if options.get("publish"):
        entry["ports"] = [_port(text) for text in options["publish"]]
    spec: dict[str, Any] = {
        "restartPolicy": _restart_policy(options),
        "containers": [entry],
    }
    if volumes:
        spec["volumes"] = list(volumes.values())
    return _document(f"{container.name}-pod", dict(options.get("labels") or {}), {}, spec)


def service_document(pod: dict[str, Any]) -> dict[str, Any]:
    """A NodePort Service for the host ports of ``pod``'s document."""
    name = pod["metadata"]["name"]
    ports = [
        {"name": str(p["hostPort"]), "nodePort": p["hostPort"], "port": p["containerPort"],
         "protocol": p.get("protocol", "TCP"), "targetPort": p["containerPort"]}
        for p in _host_ports(pod)
    ]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": ports, "selector": {"app": name}, "type": "NodePort"},
    }


def _host_ports(document: dict[str, Any]) -> list[dict[str, Any]]:
    containers = document["spec"]["containers"]
    return [p for c in containers for p in c.get("ports", []) if p.get("hostPort")]


def _document(name: str, labels: dict[str, str], annotations: dict[str, str], spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _restart_policy(options: dict[str, Any]) -> str:
    """The ``restartPolicy`` of a container's ``--restart`` (``on-failure:3``: OnFailure)."""
    return _POLICIES.get(str(options.get("restart") or "no").partition(":")[0], "Never")


def _options(container: ContainerRecord) -> dict[str, Any]:
    options: dict[str, Any] = container.config.get("options", {})
    return options


def _container(record: ContainerRecord, prefix: str, volumes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    options = _options(record)
    name = record.name[len(prefix) :] if prefix and record.name.startswith(prefix) else record.name
    entry: dict[str, Any] = {"name": name, "image": record.image}
    if options.get("entrypoint") is not None:
        entry["command"] = list(options["entrypoint"])
    if options.get("command"):
        entry["args"] = list(options["command"])
    if options.get("env"):
        entry["env"] = [dict(zip(("name", "value"), e.split("=", 1), strict=True)) for e in options["env"]]
    if options.get("workdir"):
        entry["workingDir"] = options["workdir"]
    limits = _limits(options)
    if limits:
        entry["resources"] = {"limits": limits}
    security = _security_context(options)
    if security:
        entry["securityContext"] = security
    mounts = [_mount(text, volumes) for text in options.get("volumes", [])]
    if mounts:
        entry["volumeMounts"] = mounts
    probe = _probe(options)
    if probe:
        entry["livenessProbe"] = probe
    entry.update(_true_flags(options, (("tty", "tty"), ("stdin", "interactive"))))
    return entry


def _true_flags(options: dict[str, Any], names: tuple[tuple[str, str], ...]) -> dict[str, bool]:
    """``{field: True}`` for each (Kubernetes field, option) pair whose option is set."""
    return {key: True for key, option in names if options.get(option)}


def _limits(options: dict[str, Any]) -> dict[str, str]:
    from berth.engine.units import parse_size

    limits = {}
    if options.get("cpus"):
        limits["cpu"] = format_millicores(round(float(options["cpus"]) * 1000))
    if options.get("memory"):
        limits["memory"] = format_bytes(parse_size(options["memory"]))
    return limits


def _security_context(options: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    user, _, group = str(options.get("user") or "").partition(":")
    if user.isdigit():
        context["runAsUser"] = int(user)
    if group.isdigit():
        context["runAsGroup"] = int(group)
    caps = {
        key: list(options[flag])
        for key, flag in (("add", "cap_add"), ("drop", "cap_drop"))
        if options.get(flag)
    }
    if caps:
        context["capabilities"] = caps
    context.update(
        _true_flags(options, (("privileged", "privileged"), ("readOnlyRootFilesystem", "read_only")))
    )
    if any(o.startswith("no-new-privileges") for o in options.get("security_opt", [])):
        context["allowPrivilegeEscalation"] = False
    return context


def _mount(text: str, volumes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from berth.engine.options import parse_volume

    spec = parse_volume(text)
    if spec.source:
        volume: dict[str, Any] = {
            "name": f"{_path_name(spec.source)}-host",
            "hostPath": {"path": spec.source, "type": ""},
        }
    elif spec.name:
        volume = {"name": f"{spec.name}-pvc", "persistentVolumeClaim": {"claimName": spec.name}}
    else:
        volume = {"name": f"{_path_name(spec.destination)}-empty", "emptyDir": {}}
    volumes.setdefault(volume["name"], volume)
    mount: dict[str, Any] = {"name": volume["name"], "mountPath": spec.destination}
    if spec.read_only:
        mount["readOnly"] = True
    return mount


def _path_name(path: str) -> str:
    """A volume name made of ``path`` (``/srv/my_data``: ``srv-my-data``; ``/``: ``root``)."""
    return path.strip("/").replace("/", "-").replace("_", "-").lower() or "root"


def _probe(options: dict[str, Any]) -> dict[str, Any]:
    test = options.get("health_test") or []
    if not test or options.get("no_healthcheck"):
        return {}
    if test[0] == "CMD-SHELL":
        text = test[1]
        for ending in _HEALTH_ENDINGS:  # what kube play added, so a round trip adds it once
            text = text.removesuffix(ending)
        command = shlex.split(text)
    else:
        command = list(test[1:])
    probe: dict[str, Any] = {"exec": {"command": command}}
    for key, option in _PROBE_TIMING:
        if options.get(option):
            probe[key] = int(options[option])
    return probe


def _port(text: str) -> dict[str, Any]:
    from berth.engine.options import parse_publish

    mapping = parse_publish(text)
    port: dict[str, Any] = {"containerPort": mapping.container_port, "hostPort": mapping.host_port}
    if mapping.protocol != "tcp":
        port["protocol"] = mapping.protocol.upper()
    if mapping.host_ip:
        port["hostIP"] = mapping.host_ip
    return port
