"""What ``kube play`` makes for a manifest, as the engine's options, mapped as podman 4.3 maps it.

``plan_pod(manifest, pod)`` turns one pod into the keyword arguments of a ``PodOptions`` and of a
``CreateOptions`` per container (init containers first), plus the volumes to fill from ConfigMaps
and Secrets and the hostPath checks to make before anything is created. Nothing here touches the
host; ``berth.kube.play`` carries a plan out.

podman 4.3's mapping (pkg/specgen/generate/kube/kube.go), kept here: containers are named
``<pod>-<container>``; ``command`` replaces the image's entrypoint and drops its cmd, ``args``
replaces the cmd; ``envFrom`` is applied after ``env``; ``runAsUser``/``runAsGroup`` fall back to
the pod's securityContext; ``restartPolicy`` (default Always) applies to every container, init
containers included; an exec liveness probe becomes a ``CMD-SHELL`` health check ending in
``|| exit 1`` whatever the restart policy (what podman 4.3 makes, Always included:
tests/interop/test_kube_podman.py); hostPorts are published by
the pod; the pod's labels and annotations are also every container's.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.spec.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.kube.manifest import Container, ContainerPort, Manifest, Pod, Probe, Volume

#: Label on the volumes ``kube play`` fills from a ConfigMap or Secret: ``kube down`` removes them.
SOURCE_LABEL = "io.berth.kube.source"
#: podman's annotation choosing the init containers' type (``once`` or ``always``).
INIT_TYPE_ANNOTATION = "io.podman.annotations.init.container.type"

_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no", "": "always"}


@record
class FilledVolume:
    """A named volume holding one file per key of a ConfigMap or Secret."""

    name: str
    kind: str  # "configMap" or "secret"
    files: dict[str, bytes] = field(default_factory=dict)


@record
class HostPath:
    """A hostPath volume's path and the ``type`` it must have (checked, or made, before play)."""

    path: str
    type: str
    where: str  # the volume's field path, for errors


@record
class PodPlan:
    """Everything ``kube play`` makes for one pod."""

    name: str
    pod: dict[str, Any]  # PodOptions keyword arguments
    containers: list[dict[str, Any]]  # CreateOptions keyword arguments, init containers first
    filled_volumes: list[FilledVolume] = field(default_factory=list)
    host_paths: list[HostPath] = field(default_factory=list)


def plan_pod(manifest: Manifest, pod: Pod) -> PodPlan:
    """The pod's plan (see the module's docstring)."""
    publish = [publish_text(port) for ctr in pod.containers for port in ctr.ports if port.host_port]
    share = ["ipc", "net", "uts", *(["pid"] if pod.share_pid else [])]
    options = {
        "name": pod.name,
        "hostname": pod.hostname or pod.name,
        "labels": dict(pod.labels),
        "annotations": dict(pod.annotations),
        "publish": publish,
        "network": "host" if pod.host_network else "",
        "share": share,
        "add_host": list(pod.host_aliases),
        "dns": list(pod.dns),
        "dns_search": list(pod.dns_search),
        "dns_option": list(pod.dns_options),
    }
    restart = _RESTART[pod.restart_policy]
    init_type = pod.annotations.get(INIT_TYPE_ANNOTATION, "once")
    if init_type not in ("once", "always"):
        raise InvalidArgument(f"{pod.where}metadata.annotations.{INIT_TYPE_ANNOTATION}: want once or always")
    containers = [_container(manifest, pod, c, restart, init_type) for c in pod.init_containers]
    containers += [_container(manifest, pod, c, restart, "") for c in pod.containers]
    return PodPlan(
        name=pod.name,
        pod=options,
        containers=containers,
        filled_volumes=[_filled(manifest, v) for v in pod.volumes if v.kind in ("configMap", "secret")],
        host_paths=[
            HostPath(v.source, v.host_path_type, f"{pod.where}{v.path}.hostPath")
            for v in pod.volumes
            if v.kind == "hostPath"
        ],
    )


def publish_text(port: ContainerPort) -> str:
    """The ``-p`` text publishing ``port`` on the host (``[IP:]HOSTPORT:CONTAINERPORT/proto``)."""
    host_ip = f"{port.host_ip}:" if port.host_ip else ""
    return f"{host_ip}{port.host_port}:{port.container_port}/{port.protocol.lower()}"


def _container(manifest: Manifest, pod: Pod, ctr: Container, restart: str, init_type: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "name": f"{pod.name}-{ctr.name}",
        "image": ctr.image,
        "pod": pod.name,
        "init_ctr": init_type,
        "env": _env(manifest, pod, ctr),
        "workdir": ctr.working_dir,
        "restart": restart,
        "labels": dict(pod.labels),
        "annotations": dict(pod.annotations),
        "volumes": [_mount(pod, m.name, m.mount_path, m.read_only) for m in ctr.mounts],
        "tty": ctr.tty,
        "interactive": ctr.stdin,
        "pull": _PULL.get(ctr.pull_policy.lower(), "missing"),
    }
    if ctr.command:
        options["entrypoint"] = list(ctr.command)  # and the image's cmd is dropped
    if ctr.args:
        options["command"] = list(ctr.args)
    if ctr.cpu_millis:
        options["cpus"] = str(ctr.cpu_millis / 1000)
    if ctr.memory_bytes:
        options["memory"] = str(ctr.memory_bytes)
    options.update(_security(pod, ctr))
    probe = ctr.liveness or ctr.readiness
    if probe is not None:
        options.update(_health(probe))
    return options


# imagePullPolicy as a pull policy (podman 4.3 pulls "newer" by default, which Berth lacks).
_PULL = {"always": "always", "never": "never", "ifnotpresent": "missing"}


def _env(manifest: Manifest, pod: Pod, ctr: Container) -> list[str]:
    values: dict[str, str] = {}
    for env in ctr.env:
        if env.ref is not None:
            value = _key_value(manifest, env.ref.kind, env.ref.name, env.ref.key)
            if value is not None:
                values[env.name] = value
        elif env.field_path:
            values[env.name] = _field_value(pod, env.field_path)
        else:
            values[env.name] = env.value
    for source in ctr.env_from:  # podman 4.3 applies envFrom after env
        keys = (manifest.config_maps if source.kind == "configMap" else manifest.secrets).get(source.name, {})
        for key in keys:
            value = _key_value(manifest, source.kind, source.name, key)
            if value is not None:
                values[source.prefix + key] = value
    return [f"{name}={value}" for name, value in values.items()]


def _key_value(manifest: Manifest, kind: str, name: str, key: str) -> str | None:
    """A ConfigMap's or Secret's value (None: absent, which only an ``optional`` reference allows)."""
    if kind == "configMap":
        return manifest.config_maps.get(name, {}).get(key)
    secret = manifest.secrets.get(name, {}).get(key)
    return None if secret is None else secret.decode("utf-8", "replace")


def _field_value(pod: Pod, path: str) -> str:
    """``valueFrom.fieldRef``: the downward API's fields a pod has before it runs."""
    if path == "metadata.name":
        return pod.name
    if path == "metadata.namespace":
        return "default"
    for prefix, values in (("metadata.labels", pod.labels), ("metadata.annotations", pod.annotations)):
        if path.startswith(f"{prefix}['") and path.endswith("']"):
            return values.get(path[len(prefix) + 2 : -2], "")
    raise InvalidArgument(f"{pod.where}fieldRef.fieldPath {path!r}: not supported by Berth")


def _mount(pod: Pod, name: str, destination: str, read_only: bool) -> str:
    """The ``-v`` text of a volumeMount."""
    volume = next(v for v in pod.volumes if v.name == name)  # checks.py made sure it exists
    suffix = ":ro" if read_only or volume.read_only else ""
    if volume.kind == "emptyDir":
        return destination  # an anonymous volume, removed with its container
    return f"{volume.source}:{destination}{suffix}"


def _filled(manifest: Manifest, volume: Volume) -> FilledVolume:
    if volume.kind == "configMap":
        data = {k: v.encode() for k, v in manifest.config_maps.get(volume.source, {}).items()}
    else:
        data = dict(manifest.secrets.get(volume.source, {}))
    files = {item.path: data[item.key] for item in volume.items} if volume.items else data
    return FilledVolume(volume.source, volume.kind, files)


def _security(pod: Pod, ctr: Container) -> dict[str, Any]:
    own, shared = ctr.security, pod.security
    user = own.run_as_user if own.run_as_user is not None else shared.run_as_user
    group = own.run_as_group if own.run_as_group is not None else shared.run_as_group
    options: dict[str, Any] = {"cap_add": list(own.cap_add), "cap_drop": list(own.cap_drop)}
    if user is not None or group is not None:
        options["user"] = f"{user or 0}" + (f":{group}" if group is not None else "")
    if own.privileged:
        options["privileged"] = True
    if own.read_only_root:
        options["read_only"] = True
    if own.allow_privilege_escalation is False:
        options["security_opt"] = ["no-new-privileges"]
    return options


def _health(probe: Probe) -> dict[str, Any]:
    return {
        "health_test": ["CMD-SHELL", f"{' '.join(probe.command)} || exit 1"],
        "health_interval": float(probe.period or 10),
        "health_timeout": float(probe.timeout or 1),
        "health_retries": probe.failure_threshold or 3,
        "health_start_period": float(probe.initial_delay),
    }
