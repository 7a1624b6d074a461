"""Checks across the objects of a manifest, after each was read on its own.

A pod's names must be unique, every mount must name a volume and every volume be mounted, and
every ConfigMap or Secret key a pod reads must exist (unless marked ``optional``, as Kubernetes
allows). Errors name the field's path as ``berth.kube.manifest`` does.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kube.manifest import Container, Manifest, Pod, Volume

_KIND_NAMES = {"configMap": "ConfigMap", "secret": "Secret"}


def check_manifest(manifest: Manifest) -> None:
    """Raise ``InvalidArgument`` for the first inconsistency between the objects of ``manifest``."""
    names: set[str] = set()
    for pod in manifest.pods:
        if pod.name in names:
            raise InvalidArgument(f"{pod.where}metadata.name: a second pod named {pod.name!r}")
        names.add(pod.name)
        _check_pod(manifest, pod)


def _check_pod(manifest: Manifest, pod: Pod) -> None:
    containers = [*pod.init_containers, *pod.containers]
    seen: set[str] = set()
    for ctr in containers:
        if ctr.name in seen:
            raise InvalidArgument(f"{pod.where}{ctr.path}.name: a second container named {ctr.name!r}")
        seen.add(ctr.name)
    volumes = {}
    for volume in pod.volumes:
        if volume.name in volumes:
            raise InvalidArgument(f"{pod.where}{volume.path}.name: a second volume named {volume.name!r}")
        volumes[volume.name] = volume
    mounted: set[str] = set()
    for ctr in containers:
        for mount in ctr.mounts:
            if mount.name not in volumes:
                raise InvalidArgument(
                    f"{pod.where}{mount.path}.name: no volume named {mount.name!r} in {pod.path}.volumes"
                )
            mounted.add(mount.name)
        _check_keys(manifest, pod, ctr)
    for volume in pod.volumes:
        _check_volume(manifest, pod, volume, mounted)
    ports: set[tuple[int, str]] = set()
    for ctr in containers:
        for i, port in enumerate(ctr.ports):
            if port.host_port and (port.host_port, port.protocol) in ports:
                raise InvalidArgument(
                    f"{pod.where}{ctr.path}.ports[{i}].hostPort: {port.host_port}/{port.protocol} is "
                    "published twice in the pod"
                )
            ports.add((port.host_port, port.protocol))


def _check_volume(manifest: Manifest, pod: Pod, volume: Volume, mounted: set[str]) -> None:
    where = f"{pod.where}{volume.path}"
    if volume.name not in mounted:
        raise InvalidArgument(f"{where}: volume {volume.name!r} is mounted by no container")
    if volume.kind not in _KIND_NAMES:
        return
    keys = _source_keys(manifest, volume.kind, volume.source, volume.optional, f"{where}.{volume.kind}")
    for i, item in enumerate(volume.items):
        if keys is not None and item.key not in keys:
            raise InvalidArgument(
                f"{where}.{volume.kind}.items[{i}].key: "
                f"{_KIND_NAMES[volume.kind]} {volume.source!r} has no key {item.key!r}"
            )


def _check_keys(manifest: Manifest, pod: Pod, ctr: Container) -> None:
    for env in ctr.env:
        ref = env.ref
        if ref is None:
            continue
        keys = _source_keys(manifest, ref.kind, ref.name, ref.optional, f"{pod.where}{ref.path}")
        if keys is not None and ref.key not in keys and not ref.optional:
            raise InvalidArgument(
                f"{pod.where}{ref.path}.key: {_KIND_NAMES[ref.kind]} {ref.name!r} has no key {ref.key!r}"
            )
    for source in ctr.env_from:
        _source_keys(manifest, source.kind, source.name, source.optional, f"{pod.where}{source.path}")


def _source_keys(manifest: Manifest, kind: str, name: str, optional: bool, path: str) -> set[str] | None:
    """The keys of ConfigMap or Secret ``name`` (None: absent but optional)."""
    objects: dict[str, dict[str, str]] | dict[str, dict[str, bytes]]
    objects = manifest.config_maps if kind == "configMap" else manifest.secrets
    if name in objects:
        return set(objects[name])
    if optional:
        return None
    raise InvalidArgument(f"{path}.name: no {_KIND_NAMES[kind]} named {name!r} in the file")
