"""A container's side of networking: its published ports, namespace, CNI attachments and /etc files.

``start`` prepares the namespace and attaches it while the runtime creates the container; the
monitor's cleanup tears it down; every join and leave rewrites the ``/etc/hosts`` of the
container's peers on a user network.
"""

from __future__ import annotations

import contextlib
import socket

from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord, NetworkRecord
from berth.engine.networks import bridge, cni
from berth.engine.networks.etcfiles import Resolver, write_etc_files, write_hosts
from berth.engine.networks.netns import create_netns, remove_netns
from berth.engine.options import CreateOptions, parse_publish
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.fsutil import locked

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


#: The network mode of a container that joins another's namespace, as podman's ``container:ID``.
JOINED = "container:"
#: The record's mark of a container that left its own network: ``none`` now, its namespace is still
#: the pinned one its config.json names, where the networks it is connected to are joined.
PINNED_NETNS = "netns_pinned"


def published_ports(opts: CreateOptions) -> list[dict[str, Any]]:
    """The container's ``-p`` mappings as the portmap plugin's ``portMappings``."""
    return [parse_publish(p).to_cni() for p in opts.publish]


def check_ports_free(engine: Engine, ports: list[dict[str, Any]], exclude: str = "") -> None:
    """Fail if a host port is published by another live container or bound by a host process."""
    for rec in engine.db.containers():
        if rec.id == exclude or rec.state not in ACTIVE:
            continue
        for other in published_ports(CreateOptions.from_json(rec.config["options"])):
            for port in ports:
                if (other["hostPort"], other["protocol"]) == (port["hostPort"], port["protocol"]):
                    where = f"{port['hostPort']}/{port['protocol']}"
                    raise InvalidArgument(f"port {where} is already published by container {rec.name}")
    for port in ports:
        kind = socket.SOCK_DGRAM if port["protocol"] == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((port.get("hostIP", ""), port["hostPort"]))
            except OSError as err:
                where = f"{port['hostPort']}/{port['protocol']}"
                raise InvalidArgument(f"port {where} is already in use on the host: {err.strerror}") from None


def prepare_network(engine: Engine, record: ContainerRecord) -> NetworkRecord | None:
    """Check the ports, record the attachment and pin the namespace; CNI runs in ``attach_network``."""
    name = record.config["network"]
    if has_pinned_netns(record):
        create_netns(engine.paths(record.id).netns)  # only the networks it was connected to
        return None
    if name in (bridge.NONE, bridge.HOST) or joins_network_of(record):
        return None
    net = engine.db.network(name)
    ports = published_ports(CreateOptions.from_json(record.config["options"]))
    if ports:
        check_ports_free(engine, ports, exclude=record.id)
    # Recorded before CNI runs, so a command killed midway leaves enough for cleanup to undo it
    # (the plugins' DEL finds what to remove by container id and namespace, without the result).
    record.networks = {name: {"result": {}, "ports": ports}}
    engine.db.update_container(record.id, networks=record.networks)
    create_netns(engine.paths(record.id).netns)
    return net


def attach_network(engine: Engine, record: ContainerRecord, net: NetworkRecord | None) -> None:
    """CNI ADD into the pinned namespace, of its network and then each one it was connected to;
    record the results and write the container's /etc/hosts. ``net`` is None for a container with
    no network of its own: one that left it joins only those it was connected to."""
    if net is not None:
        ports = record.networks[net.name]["ports"]
        netns, request = engine.paths(record.id).netns, endpoint_request(record, net.name)
        result = bridge.attach(engine.config, net, record.id, netns, ports, bridge.FIRST_IFNAME, request)
        record.networks = {net.name: {"result": result, "ports": ports, "ifname": bridge.FIRST_IFNAME}}
        engine.db.update_container(record.id, networks=record.networks)
        write_etc(engine, record, cni.result_addresses(result))
    elif not has_pinned_netns(record):
        return
    for name in connected_networks(record):
        join_network(engine, record, engine.db.network(name))
    for name in record.networks:
        refresh_peer_hosts(engine, name)


def own_endpoint_request(opts: CreateOptions) -> bridge.EndpointRequest:
    """What ``--ip``, ``--ip6`` and ``--mac-address`` ask of the interface on the container's network."""
    return bridge.EndpointRequest(tuple(ip for ip in (opts.ip, opts.ip6) if ip), opts.mac_address)


def endpoint_request(record: ContainerRecord, network: str) -> bridge.EndpointRequest:
    """What the container asks of its interface on ``network``: on its own network its
    ``--ip``, ``--ip6`` and ``--mac-address``, on one it was connected to what the connect asked."""
    if network == record.config.get("network"):
        return own_endpoint_request(CreateOptions.from_json(record.config["options"]))
    asked = record.config.get("endpoints", {}).get(network, {})
    return bridge.EndpointRequest(tuple(asked.get("ips", ())), asked.get("mac", ""))


def connected_networks(record: ContainerRecord) -> dict[str, list[str]]:
    """The networks the container was connected to beyond its own, each with its aliases there."""
    return dict(record.config.get("connected", {}))


def join_network(engine: Engine, record: ContainerRecord, net: NetworkRecord) -> None:
    """CNI ADD of one more network, as the next free interface (eth1, eth2...), recorded."""
    taken = {att.get("ifname", bridge.FIRST_IFNAME) for att in record.networks.values()}
    ifname = next(f"eth{n}" for n in range(len(taken) + 1) if f"eth{n}" not in taken)
    netns, request = engine.paths(record.id).netns, endpoint_request(record, net.name)
    result = bridge.attach(engine.config, net, record.id, netns, [], ifname, request)
    record.networks = {**record.networks, net.name: {"result": result, "ports": [], "ifname": ifname}}
    engine.db.update_container(record.id, networks=record.networks)


def refresh_peer_hosts(engine: Engine, network: str) -> None:
    """Rewrite ``/etc/hosts`` of every container on the user network ``network`` so that each lists
    the others on each of its user networks by name and aliases. The default network resolves no
    names, as Docker's default bridge."""
    if network == engine.config.default_network:
        return
    lock = engine.config.runroot / "network-hosts" / "hosts.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock):  # one writer at a time, or a stale list could overwrite a fresher one
        containers = engine.db.containers()
        for rec in containers:
            if network not in rec.networks or not rec.networks[network]["result"]:
                continue
            own = rec.config["network"]
            addresses = cni.result_addresses(rec.networks[own]["result"]) if own in rec.networks else []
            with contextlib.suppress(OSError):  # a member being removed meanwhile
                write_hosts(
                    engine.paths(rec.id).userdata, rec.config["hostname"], rec.name, addresses, False,
                    _peers(engine, rec, containers), resolver(rec).hosts,
                )  # fmt: skip


def _peers(engine: Engine, rec: ContainerRecord, containers: list[ContainerRecord]) -> list[tuple[str, str]]:
    """(address, name) of every other container on one of ``rec``'s user networks, for each of
    its names there: its own, ``--network-alias`` and the aliases it was connected with."""
    peers = []
    for network in rec.networks:
        if network == engine.config.default_network:
            continue
        for peer in containers:
            attachment = peer.networks.get(network)
            if peer.id == rec.id or not attachment or not attachment["result"]:
                continue
            addresses = cni.result_addresses(attachment["result"])
            if not addresses:
                continue
            aliases = CreateOptions.from_json(peer.config["options"]).network_alias
            extra = connected_networks(peer).get(network, [])
            for name in dict.fromkeys((peer.name, *aliases, *extra)):
                peers.append((addresses[0].split("/")[0], name))
    return list(dict.fromkeys(peers))


def teardown_network(engine: Engine, record: ContainerRecord) -> None:
    """CNI DEL of every network the container is attached to, then its pinned namespace."""
    paths = engine.paths(record.id)
    for name, attachment in record.networks.items():
        try:
            net = engine.db.network(name)
        except NotFound:
            continue
        with contextlib.suppress(BerthError):
            bridge.detach(
                engine.config, net, record.id, paths.netns, attachment["result"], attachment["ports"],
                attachment.get("ifname", bridge.FIRST_IFNAME),
            )  # fmt: skip
    remove_netns(paths.netns)


def resolver(record: ContainerRecord) -> Resolver:
    """The container's ``--dns*`` and ``--add-host`` flags."""
    opts = CreateOptions.from_json(record.config["options"])
    return Resolver(tuple(opts.dns), tuple(opts.dns_search), tuple(opts.dns_option), tuple(opts.add_host))


def has_pinned_netns(record: ContainerRecord) -> bool:
    """Whether the container left its own network and keeps its pinned namespace (``PINNED_NETNS``)."""
    return bool(record.config.get(PINNED_NETNS)) and record.config["network"] == bridge.NONE


def joins_network_of(record: ContainerRecord) -> bool:
    """Whether the container joins another's network namespace and /etc files (a pod's infra's)."""
    return str(record.config["network"]).startswith(JOINED)


def write_etc(engine: Engine, record: ContainerRecord, addresses: list[str]) -> None:
    """Write the container's ``/etc`` files (hostname, hosts, resolv.conf) with ``addresses``; a
    container that joins another's network uses the other's files and writes none."""
    if joins_network_of(record):
        return
    write_etc_files(
        engine.paths(record.id).userdata,
        record.config["hostname"],
        record.name,
        addresses,
        record.config["network"] == bridge.HOST,
        resolver(record),
    )
