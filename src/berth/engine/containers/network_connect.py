"""``network connect`` and ``disconnect`` (Docker's): a container on one more user network, at once
if it runs (as the next free interface, eth1, eth2...), else from its next start on; a verb above
``state``, which ``network_setup`` (below ``cleanup``) must not import."""

from __future__ import annotations

from berth.engine.containers.lock import container_lock
from berth.engine.containers.network_setup import (
    PINNED_NETNS,
    connected_networks,
    has_pinned_netns,
    join_network,
    joins_network_of,
    refresh_peer_hosts,
)
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE
from berth.engine.networks import bridge
from berth.errors import AlreadyExists, InvalidArgument, NotFound


def connect_network(
    engine: Engine,
    ref: str,
    network: str,
    aliases: list[str],
    request: bridge.EndpointRequest = bridge.NO_REQUEST,
) -> None:
    """Connect container ``ref`` to one more user network (Docker's ``network connect``), found
    there by its name and ``aliases``, its interface there as ``request`` asks: at once if it
    runs, else from its next start on."""
    net = engine.db.network(network)
    bridge.check_endpoint(net, request)
    with container_lock(engine, engine.db.container(ref).id):
        record = refresh(engine, engine.db.container(ref))
        own = record.config["network"]
        if (
            (own == bridge.NONE and not has_pinned_netns(record))
            or own == bridge.HOST
            or joins_network_of(record)
        ):
            raise InvalidArgument(f"container {record.name} has network {own}: it can not join others")
        connected = connected_networks(record)
        if net.name == own or net.name in connected:
            raise AlreadyExists(f"container {record.name} is already on network {net.name}")
        endpoints = {
            **record.config.get("endpoints", {}),
            net.name: {"ips": list(request.ips), "mac": request.mac},
        }
        record.config = {
            **record.config,
            "connected": {**connected, net.name: list(aliases)},
            "endpoints": endpoints,
        }
        engine.db.update_container(record.id, config=record.config)
        if record.state in ACTIVE and (record.networks or has_pinned_netns(record)):
            join_network(engine, record, net)
            refresh_peer_hosts(engine, net.name)


def disconnect_network(engine: Engine, ref: str, network: str) -> None:
    """Take container ``ref`` off a network: one it was connected to, or its own (it keeps its
    network namespace, on no network of its own, and may be connected again)."""
    net = engine.db.network(network)
    with container_lock(engine, engine.db.container(ref).id):
        record = refresh(engine, engine.db.container(ref))
        connected = connected_networks(record)
        if net.name == record.config["network"]:
            # its own network: it has none from now on (Docker's disconnect of the last one), its
            # namespace stays for the networks it is or will be connected to
            record.config = {**record.config, "network": bridge.NONE, PINNED_NETNS: True}
        elif net.name in connected:
            del connected[net.name]
            endpoints = {k: v for k, v in record.config.get("endpoints", {}).items() if k != net.name}
            record.config = {**record.config, "connected": connected, "endpoints": endpoints}
        else:
            raise NotFound(f"container {record.name} is not connected to network {net.name}")
        attachment = record.networks.get(net.name)
        networks = {k: v for k, v in record.networks.items() if k != net.name}
        engine.db.update_container(record.id, config=record.config, networks=networks)
        if attachment is not None:
            bridge.detach(
                engine.config, net, record.id, engine.paths(record.id).netns, attachment["result"], [],
                attachment.get("ifname", bridge.FIRST_IFNAME),
            )  # fmt: skip
            refresh_peer_hosts(engine, net.name)
