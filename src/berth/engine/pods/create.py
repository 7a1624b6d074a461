"""``pod create``: validate every flag, then record the pod and its infra container (not started)."""

from __future__ import annotations

import ipaddress

from berth.engine.containers.create import create_container, generate_name
from berth.engine.containers.network_setup import check_ports_free, published_ports
from berth.engine.containers.pod_member import SHAREABLE
from berth.engine.engine import Engine, new_id
from berth.engine.event_log import object_event
from berth.engine.metadata import ContainerRecord, PodRecord
from berth.engine.networks import bridge
from berth.engine.options import CreateOptions, RestartPolicy, check_name
from berth.engine.pod_cgroup import pod_cgroup_parent, pod_resources
from berth.engine.pods.options import DEFAULT_SHARE, PodOptions
from berth.engine.pods.remove import remove_pod
from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.spec.records import replace


def create_pod(engine: Engine, opts: PodOptions) -> PodRecord:
    """Validate ``opts`` (name free, ports well formed and free, network known, limits), then record
    the pod and, unless ``opts.infra`` is false, its infra container. Bad input raises
    ``InvalidArgument`` and creates nothing."""
    name = _check(engine, opts)
    pid = new_id()
    network = bridge.resolve_network(engine.config, engine.db, opts.network) if opts.infra else None
    config = {**opts.to_json(), "network": network.name if network else (opts.network or bridge.NONE)}
    pod = PodRecord(
        id=pid,
        name=name,
        config=config,
        labels=dict(opts.labels),
        annotations=dict(opts.annotations),
        cgroup_parent=pod_cgroup_parent(opts.cgroup_parent or engine.config.cgroup_parent, pid),
    )
    engine.db.add_pod(pod)
    if opts.infra:
        try:
            infra = create_container(engine, _infra_options(engine, pod, opts))
        except BaseException:
            engine.db.remove_pod(pid)
            raise
        engine.db.update_pod(pid, infra_id=infra.id)
        pod.infra_id = infra.id
    object_event(engine.config, "pod", "create", pod.name, pod.id)
    return pod


def _check(engine: Engine, opts: PodOptions) -> str:
    """Every check that needs no change on the host; the pod's name."""
    name = check_name(opts.name, "pod") if opts.name else generate_name({p.name for p in engine.db.pods()})
    try:
        engine.db.pod(name)
    except NotFound:
        pass
    else:
        raise AlreadyExists(f"pod name {name!r} is already in use")
    if opts.cgroup_parent and (
        not opts.cgroup_parent.startswith("/") or ".." in opts.cgroup_parent.split("/")
    ):
        raise InvalidArgument(f"invalid --cgroup-parent {opts.cgroup_parent!r}: want an absolute cgroup path")
    unknown = [ns for ns in opts.share if ns not in SHAREABLE]
    if unknown:
        raise InvalidArgument(f"invalid --share {unknown[0]!r}: want some of {', '.join(SHAREABLE)}")
    if not opts.infra:
        needing_infra = {"-p": opts.publish, "--network": opts.network, "--hostname": opts.hostname,
                         "--add-host": opts.add_host, "--dns": opts.dns, "--infra-image": opts.infra_image,
                         "--share": opts.share != list(DEFAULT_SHARE) and opts.share}  # fmt: skip
        for flag, value in needing_infra.items():
            if value:
                raise InvalidArgument(f"{flag} needs an infra container (not --infra=false)")
    for entry in opts.add_host:
        host, colon, address = entry.partition(":")
        if not host or not colon or not _is_ip(address):
            raise InvalidArgument(f"invalid --add-host {entry!r}: want HOST:IP")
    for server in opts.dns:
        if not _is_ip(server):
            raise InvalidArgument(f"invalid --dns {server!r}: want an IP address")
    if opts.restart:
        RestartPolicy.parse(opts.restart)
    pod_resources(opts.cpus, opts.memory)
    if opts.infra:
        ports = published_ports(CreateOptions(publish=opts.publish))
        network = bridge.resolve_network(engine.config, engine.db, opts.network)  # unknown: NotFound
        if ports and network is None:
            raise InvalidArgument("-p needs a bridge network (not --network none or host)")
        if ports:
            check_ports_free(engine, ports)
    return name


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _infra_options(engine: Engine, pod: PodRecord, opts: PodOptions) -> CreateOptions:
    """The infra container: the pause image, owning the pod's network, ports, hostname and names."""
    if opts.infra_image:
        image = opts.infra_image
    else:
        from berth.engine.images.pause import ensure_pause_image

        image = ensure_pause_image(engine)
    return CreateOptions(
        image=image,
        command=list(opts.infra_command),
        name=opts.infra_name or f"{pod.id[:12]}-infra",
        hostname=opts.hostname or pod.name,
        network=opts.network,
        publish=list(opts.publish),
        labels=dict(opts.labels),
        dns=list(opts.dns),
        dns_search=list(opts.dns_search),
        dns_option=list(opts.dns_option),
        add_host=list(opts.add_host),
        pod=pod.id,
        pod_infra=True,
        uidmap=list(opts.uidmap),
        gidmap=list(opts.gidmap),
        runtime=opts.infra_runtime,
        pull="missing" if opts.infra_image else "never",  # Berth's pause image is built, never pulled
    )


def create_in_new_pod(engine: Engine, opts: CreateOptions, pod_name: str) -> ContainerRecord:
    """``--pod new:NAME``: a new pod named ``pod_name`` that takes the container's ``-p`` and
    ``--network`` (as podman's), then the container in it; on failure neither is left."""
    pod = create_pod(engine, PodOptions(name=pod_name, publish=list(opts.publish), network=opts.network))
    try:
        return create_container(engine, replace(opts, pod=pod.id, publish=[], network=""))
    except BaseException:
        remove_pod(engine, pod.id, force=True)
        raise
