"""Network endpoints (engine API v1.44, Network): create, list, inspect, remove, prune; connect
and disconnect as far as the engine allows (a container joins its one network at create).

Docker's ``bridge`` network is the engine's default network; ``host`` and ``none`` are listed as
dockerd lists them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from berth.dockerapi.app import Router, blocking, json_response, query_filters, read_json
from berth.dockerapi.container_config import Fields, endpoint_request
from berth.dockerapi.errors import ApiError
from berth.engine.engine import Engine
from berth.engine.metadata import NetworkRecord
from berth.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.networks.bridge import EndpointRequest

#: The networks every dockerd has, which Berth's engine does not keep records of.
_PSEUDO = ("host", "none")


def docker_name(engine: Engine, name: str) -> str:
    """A network's name as Docker clients know it (the default network is ``bridge``)."""
    return "bridge" if name == engine.config.default_network else name


def _record(engine: Engine, ref: str) -> NetworkRecord:
    from berth.engine.networks.bridge import default_network

    if ref in ("bridge", engine.config.default_network):
        return default_network(engine.config, engine.db)
    return engine.db.network(ref)


def _containers(engine: Engine, record: NetworkRecord) -> dict[str, Any]:
    attached = {}
    for container in engine.db.containers():
        attachment = container.networks.get(record.name)
        if attachment is None:
            continue
        result = attachment.get("result", {})
        addresses = [ip.get("address", "") for ip in result.get("ips", [])]
        macs = [i.get("mac", "") for i in result.get("interfaces", []) if i.get("sandbox")]
        attached[container.id] = {
            "Name": container.name,
            "EndpointID": container.id,
            "MacAddress": macs[0] if macs else "",
            "IPv4Address": next((a for a in addresses if ":" not in a), ""),
            "IPv6Address": next((a for a in addresses if ":" in a), ""),
        }
    return attached


def _ipam_config(record: NetworkRecord) -> list[dict[str, str]]:
    pools = [
        (record.subnet, record.gateway, record.ip_range),
        (record.subnet6, record.gateway6, record.ip_range6),
    ]
    return [
        {"Subnet": subnet, "Gateway": gateway, **({"IPRange": ip_range} if ip_range else {})}
        for subnet, gateway, ip_range in pools
        if subnet
    ]


def _document(engine: Engine, record: NetworkRecord, verbose: bool = True) -> dict[str, Any]:
    return {
        "Name": docker_name(engine, record.name),
        "Id": record.id,
        "Created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(record.created_at)),
        "Scope": "local",
        "Driver": record.driver,
        "EnableIPv6": bool(record.subnet6),
        "IPAM": {"Driver": "default", "Options": None, "Config": _ipam_config(record)},
        "Internal": record.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": _containers(engine, record) if verbose else {},
        # A user network's options are those it was made with (none: Berth takes no DriverOpts),
        # which docker-compose compares with its file's; the default one names its bridge.
        "Options": (
            {"com.docker.network.bridge.name": record.bridge}
            if record.name == engine.config.default_network
            else {}
        ),
        "Labels": record.labels,
    }  # fmt: skip


def _pseudo_document(name: str) -> dict[str, Any]:
    return {
        "Name": name, "Id": name, "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": name,
        "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
        "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": {}, "Options": {}, "Labels": {},
    }  # fmt: skip


def _create(engine: Engine, body: Fields) -> dict[str, Any]:
    from berth.engine.networks.bridge import AddressPool, create_network

    name = body.text("Name")
    if not name:
        raise ApiError(400, "no network name given: Name is required")
    if body.text("Driver", "bridge") not in ("", "bridge"):
        raise ApiError(400, f"network driver {body.text('Driver')!r} is not supported: Berth has bridge only")
    if name in ("bridge", *_PSEUDO) or any(n.name == name for n in engine.db.networks()):
        raise ApiError(409, f"network with name {name} already exists")
    pools = []
    for config in body.child("IPAM").objects("Config"):
        if config.mapping("AuxiliaryAddresses"):
            raise ApiError(400, "IPAM.Config AuxiliaryAddresses: reserving addresses is not supported")
        pools.append(AddressPool(config.text("Subnet"), config.text("Gateway"), config.text("IPRange")))
    record = create_network(
        engine.config,
        engine.db,
        name,
        pools,
        body.labels("Labels"),
        internal=body.flag("Internal"),
        ipv6=body.flag("EnableIPv6"),
    )
    return {"Id": record.id, "Warning": ""}


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /networks/create``: 201 ``{"Id", "Warning"}``; 409 for a name in use."""
    body = Fields(await read_json(request, {}), "")
    return json_response(await blocking(request, _create, body), status=201)


def _filtered(docs: list[dict[str, Any]], filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    for key in filters:
        if key not in ("name", "id", "label", "driver", "type"):
            raise ApiError(
                400, f"invalid filter {key!r}: Berth filters networks by name, id, label, driver, type"
            )

    def keep(doc: dict[str, Any]) -> bool:
        return all(any(_matches(doc, key, v) for v in values) for key, values in filters.items())

    return [d for d in docs if keep(d)]


def _matches(doc: dict[str, Any], key: str, value: str) -> bool:
    if key == "name":
        return value in str(doc["Name"])
    if key == "id":
        return bool(doc["Id"].startswith(value))
    if key == "driver":
        return value == str(doc["Driver"])
    if key == "type":
        return value == ("builtin" if doc["Name"] in ("bridge", *_PSEUDO) else "custom")
    label, eq, wanted = value.partition("=")
    labels: dict[str, str] = doc["Labels"]
    return label in labels and (not eq or labels[label] == wanted)


def _list(engine: Engine, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    from berth.engine.networks.bridge import default_network

    default_network(engine.config, engine.db)  # listed as "bridge", as dockerd's always is
    docs = [_document(engine, r, verbose=False) for r in engine.db.networks()]
    return _filtered(docs + [_pseudo_document(n) for n in _PSEUDO], filters)


async def list_networks(request: web.Request) -> web.StreamResponse:
    """``GET /networks?filters=``."""
    return json_response(await blocking(request, _list, query_filters(request)))


def _inspect(engine: Engine, ref: str) -> dict[str, Any]:
    if ref in _PSEUDO:
        return _pseudo_document(ref)
    return _document(engine, _record(engine, ref))


async def inspect(request: web.Request) -> web.StreamResponse:
    """``GET /networks/{id}``."""
    return json_response(await blocking(request, _inspect, request.match_info["id"]))


def _remove(engine: Engine, ref: str) -> None:
    from berth.engine.networks.bridge import remove_network

    if ref in ("bridge", *_PSEUDO, engine.config.default_network):
        raise ApiError(403, f"{ref} is a pre-defined network and cannot be removed")
    record = engine.db.network(ref)
    users = [c.name for c in engine.db.containers() if c.config.get("network") == record.name]
    if users:
        raise ApiError(
            403,
            f"error while removing network: network {record.name} has active endpoints ({', '.join(users)})",
        )
    remove_network(engine.config, engine.db, record.name, in_use=False)


async def remove(request: web.Request) -> web.StreamResponse:
    """``DELETE /networks/{id}``: 403 while containers use it, or for a pre-defined one."""
    await blocking(request, _remove, request.match_info["id"])
    return web.Response(status=204)


def _prune(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    deleted = []
    docs = {
        d["Id"]: d for d in _filtered([_document(engine, r, False) for r in engine.db.networks()], filters)
    }
    for record in engine.db.networks():
        if record.id not in docs or record.name == engine.config.default_network:
            continue
        try:
            _remove(engine, record.name)
        except (ApiError, NotFound):
            continue  # in use
        deleted.append(record.name)
    return {"NetworksDeleted": deleted or None}


async def prune(request: web.Request) -> web.StreamResponse:
    """``POST /networks/prune?filters=``: networks no container uses."""
    return json_response(await blocking(request, _prune, query_filters(request)))


def _connect(
    engine: Engine, ref: str, container_ref: str, aliases: list[str], request: EndpointRequest
) -> None:
    from berth.engine.containers.network_connect import connect_network

    record = _record(engine, ref) if ref not in _PSEUDO else None
    container = engine.db.container(container_ref)
    if record is not None and container.config.get("network") == record.name:
        return  # its own network: already on it, as dockerd answers a repeated connect of a created one
    if record is None:
        raise ApiError(
            400, f"container {container.name} can not be connected to network {ref}: not a bridge network"
        )
    connect_network(engine, container.id, record.name, aliases, request)


async def connect(request: web.Request) -> web.StreamResponse:
    """``POST /networks/{id}/connect`` (``{"Container", "EndpointConfig": {"Aliases", "IPAMConfig",
    "MacAddress"}}``): one more network for the container, at once if it runs."""
    body = Fields(await read_json(request, {}), "")
    endpoint = body.child("EndpointConfig")
    asked = endpoint_request(endpoint)
    await blocking(
        request,
        _connect,
        request.match_info["id"],
        body.text("Container"),
        endpoint.strings("Aliases"),
        asked,
    )
    return web.Response(status=200)


def _disconnect(engine: Engine, ref: str, container_ref: str) -> None:
    from berth.engine.containers.network_connect import disconnect_network

    if ref in _PSEUDO:
        raise ApiError(400, f"containers can not be disconnected from network {ref}")
    disconnect_network(engine, container_ref, _record(engine, ref).name)


async def disconnect(request: web.Request) -> web.StreamResponse:
    """``POST /networks/{id}/disconnect`` (``{"Container", "Force"}``): off a network it was connected
    to; the one it was created on stays (400)."""
    body = Fields(await read_json(request, {}), "")
    await blocking(request, _disconnect, request.match_info["id"], body.text("Container"))
    return web.Response(status=200)


def register(router: Router) -> None:
    """Add the network endpoints."""
    router.add("POST", "/networks/create", create)
    router.add("GET", "/networks", list_networks)
    router.add("POST", "/networks/prune", prune)
    router.add("GET", "/networks/{id}", inspect)
    router.add("DELETE", "/networks/{id}", remove)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
