"""``rename``: a container's new name, and the ``/etc/hosts`` files that follow it."""

from __future__ import annotations

from berth.engine.containers.lock import container_lock
from berth.engine.containers.network_setup import refresh_peer_hosts, write_etc
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.engine.networks import cni
from berth.engine.options import check_name


def rename_container(engine: Engine, ref: str, name: str) -> ContainerRecord:
    """Rename a container (running or not, as podman allows); the ``/etc/hosts`` files that name
    it, its own and its user networks' members', follow."""
    check_name(name)
    record = engine.db.container(ref)
    with container_lock(engine, record.id):
        engine.db.rename_container(record.id, name)
        record = engine.db.container(record.id)
        addresses = [a for n in record.networks.values() for a in cni.result_addresses(n.get("result", {}))]
        if record.state in ACTIVE:
            write_etc(engine, record, addresses)
        for network in record.networks:
            refresh_peer_hosts(engine, network)
    container_event(engine.config, record, "rename")
    return record
