"""``network check CONTAINER``: CNI CHECK of a running container's attachments."""

from __future__ import annotations

from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE
from berth.engine.networks import bridge
from berth.errors import InvalidState


def check_container_network(engine: Engine, ref: str) -> list[str]:
    """CNI CHECK of every network the running container ``ref`` is attached to; their names.

    Raises the plugin's error (``CNIError``) if an interface, address, route or rule that ADD made
    is missing or changed.
    """
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    netns = engine.paths(record.id).netns
    for name, attachment in record.networks.items():
        net = engine.db.network(name)
        ifname = attachment.get("ifname", bridge.FIRST_IFNAME)
        bridge.check(engine.config, net, record.id, netns, attachment["result"], attachment["ports"], ifname)
    return list(record.networks)
