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
    """CNI ADD into the pinned namespace; record the result and write the container's /etc/hosts."""
    if net is None:
        return
    ports = record.networks[net.name]["ports"]
    result = bridge.attach(engine.config, net, record.id, engine.paths(record.id).netns, ports)
    record.networks = {net.name: {"result": result, "ports": ports}}
    engine.db.update_container(record.id, networks=record.networks)
    write_etc(engine, record, cni.result_addresses(result))
    refresh_peer_hosts(engine, net.name)


def refresh_peer_hosts(engine: Engine, network: str) -> None:
    """Rewrite ``/etc/hosts`` of every container on the user network ``network`` so that each lists
    the others by name. The default network resolves no names, as Docker's default bridge."""
    if network == engine.config.default_network:
        return
    lock = engine.config.runroot / "network-hosts" / f"{network}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock):  # one writer at a time, or a stale list could overwrite a fresher one
        members = [
            (rec, cni.result_addresses(rec.networks[network]["result"]))
            for rec in engine.db.containers()
            if network in rec.networks and rec.networks[network]["result"]
        ]
        for rec, addresses in members:
            peers = [
                (peer_addresses[0].split("/")[0], name)
                for peer, peer_addresses in members
                if peer.id != rec.id and peer_addresses
                for name in (peer.name, *CreateOptions.from_json(peer.config["options"]).network_alias)
            ]
            with contextlib.suppress(OSError):  # a member being removed meanwhile
                write_hosts(
                    engine.paths(rec.id).userdata, rec.config["hostname"], rec.name, addresses, False, peers,
                    resolver(rec).hosts,
                )  # fmt: skip


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
                engine.config, net, record.id, paths.netns, attachment["result"], attachment["ports"]
            )
    remove_netns(paths.netns)


def resolver(record: ContainerRecord) -> Resolver:
    """The container's ``--dns*`` and ``--add-host`` flags."""
    opts = CreateOptions.from_json(record.config["options"])
    return Resolver(tuple(opts.dns), tuple(opts.dns_search), tuple(opts.dns_option), tuple(opts.add_host))


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
