"""Bridge networks served by Debian's CNI plugins: create, list, inspect, remove, attach, detach.

Each network is a CNI network configuration list (``bridge`` with ``host-local`` IPAM, then
``portmap``) kept in the storage root, plus a record in the metadata database. A container joins a
network by CNI ADD in its own named network namespace; the loopback interface is brought up by the
``loopback`` plugin as a separate one-plugin list, as containerd does. A network's bridge device
stays up between containers (as docker0 and CNI-era podman's bridges do, so a ``run`` does not pay
for making and deleting it) and is deleted with the network by ``network rm``; the default network
may be removed too, and is made again on next use.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

from berth.engine.config import EngineConfig
from berth.engine.engine import new_id
from berth.engine.event_log import object_event
from berth.engine.metadata import Metadata, NetworkRecord
from berth.engine.networks import cni
from berth.engine.options import check_name
from berth.errors import AlreadyExists, BerthError, InvalidArgument, InvalidState, NotFound
from berth.fsutil import atomic_write, locked
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The interface of a container's first network; others it joins are eth1, eth2...
FIRST_IFNAME = "eth0"
#: Modes of ``--network`` that are not a CNI network.
NONE, HOST = "none", "host"


def _host_routes(version: int = 4, except_dev: str = "") -> list[IPNetwork]:
    """The host's unicast routes of IP ``version`` but the default ones (and ``except_dev``'s)."""
    out = subprocess.run(
        ["ip", "-j", f"-{version}", "route", "show", "table", "all"], capture_output=True, text=True
    )
    nets: list[IPNetwork] = []
    for route in json.loads(out.stdout or "[]"):
        dst = route.get("dst", "")
        if route.get("dev") == except_dev:
            continue
        if dst and dst != "default" and route.get("type", "unicast") == "unicast":
            try:
                nets.append(ipaddress.ip_network(dst, strict=False))
            except ValueError:
                continue
    return nets


def _check_subnet(subnet: IPNetwork, taken: list[IPNetwork]) -> None:
    for other in taken:
        if subnet.version == other.version and subnet.overlaps(other):
            raise InvalidArgument(f"subnet {subnet} overlaps {other}, already in use on this host")


def _free_subnet(taken: list[IPNetwork], first: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    base = int(first.network_address)
    for n in range(256):
        candidate = ipaddress.IPv4Network((base + (n << 8), 24))
        if not any(t.version == 4 and candidate.overlaps(t) for t in taken):
            return candidate
    raise BerthError("no free /24 subnet left for a new network: give --subnet")


def _unique_local_subnet(network_id: str) -> ipaddress.IPv6Network:
    """A /64 of an RFC 4193 unique local prefix: ``fd`` and a 40-bit global ID (section 3.2.1:
    pseudo-random, taken here from the network's random ID), subnet ID 0."""
    global_id = int(network_id[:10], 16)
    return ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), 64))


@record(frozen=True)
class AddressPool:
    """One subnet a network is made with (``--subnet``/IPAM ``Config``): its gateway and the range
    containers take addresses from (``--ip-range``); empty ones are chosen."""

    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""


def _pool_subnet(pool: AddressPool, taken: list[IPNetwork]) -> IPNetwork:
    try:
        net = ipaddress.ip_network(pool.subnet, strict=True)
    except ValueError as err:
        raise InvalidArgument(f"invalid --subnet {pool.subnet!r}: {err}") from None
    if net.num_addresses < 4:
        raise InvalidArgument(f"invalid --subnet {pool.subnet!r}: too small for containers")
    _check_subnet(net, taken)
    return net


def _pool_gateway(pool: AddressPool, net: IPNetwork) -> str:
    if not pool.gateway:
        return str(net.network_address + 1)
    try:
        gateway = ipaddress.ip_address(pool.gateway)
    except ValueError:
        raise InvalidArgument(f"invalid --gateway {pool.gateway!r}") from None
    if gateway not in net:
        raise InvalidArgument(f"gateway {pool.gateway} is not in subnet {net}")
    return str(gateway)


def _pool_range(pool: AddressPool, net: IPNetwork) -> str:
    if not pool.ip_range:
        return ""
    try:
        ip_range = ipaddress.ip_network(pool.ip_range, strict=False)
    except ValueError as err:
        raise InvalidArgument(f"invalid --ip-range {pool.ip_range!r}: {err}") from None
    if ip_range.version != net.version or not ip_range.subnet_of(net):  # type: ignore[arg-type]
        raise InvalidArgument(f"ip range {pool.ip_range} is not in subnet {net}")
    return str(ip_range)


@record(frozen=True)
class EndpointRequest:
    """What a container asks of its interface on one network: fixed addresses (podman's ``--ip``,
    ``--ip6``; Docker's ``IPAMConfig``) and a MAC address (``--mac-address``)."""

    ips: tuple[str, ...] = ()
    mac: str = ""


#: A container that asks for nothing in particular.
NO_REQUEST = EndpointRequest()
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def check_endpoint(record: NetworkRecord, request: EndpointRequest) -> None:
    """Refuse a request network ``record`` cannot meet: an address outside its subnets (or a
    second of one family), a MAC address that is not six colon-separated bytes."""
    families = []
    for text in request.ips:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"invalid IP address {text!r}") from None
        subnet = record.subnet if address.version == 4 else record.subnet6
        if not subnet or address not in ipaddress.ip_network(subnet):
            raise InvalidArgument(f"IP address {text} is not in a subnet of network {record.name}")
        families.append(address.version)
    if len(set(families)) != len(families):
        raise InvalidArgument(f"more than one address of a family asked for on network {record.name}")
    if request.mac and not _MAC.fullmatch(request.mac):
        raise InvalidArgument(f"invalid MAC address {request.mac!r}")


def _capability_args(
    record: NetworkRecord, ports: list[dict[str, Any]], request: EndpointRequest
) -> dict[str, Any]:
    """The ``runtimeConfig`` values: ports for portmap; fixed addresses for host-local and a MAC
    for the bridge plugin (their ``ips`` and ``mac`` capabilities, CONVENTIONS.md)."""
    args: dict[str, Any] = {"portMappings": ports}
    if request.ips:
        prefixes = {4: record.subnet, 6: record.subnet6}
        args["ips"] = [
            f"{ip}/{prefixes[ipaddress.ip_address(ip).version].split('/')[1]}" for ip in request.ips
        ]
    if request.mac:
        args["mac"] = request.mac
    return args


def host_local_range(subnet: str, gateway: str, ip_range: str = "") -> dict[str, str]:
    """host-local's range for a subnet; an ``ip_range`` inside it bounds the addresses given out
    (``rangeStart``/``rangeEnd``: not the subnet's own address, nor IPv4's broadcast)."""
    entry = {"subnet": subnet, "gateway": gateway}
    if ip_range:
        net, part = ipaddress.ip_network(subnet), ipaddress.ip_network(ip_range)
        last = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
        entry["rangeStart"] = str(max(part.network_address, net.network_address + 1))
        entry["rangeEnd"] = str(min(part.broadcast_address, last))
    return entry


def conflist_for(record: NetworkRecord, config: EngineConfig) -> dict[str, Any]:
    """The CNI network configuration list of ``record``."""
    ranges = [[host_local_range(record.subnet, record.gateway, record.ip_range)]]
    routes = [{"dst": "0.0.0.0/0"}]
    if record.subnet6:
        ranges.append([host_local_range(record.subnet6, record.gateway6, record.ip_range6)])
        routes.append({"dst": "::/0"})
    return {
        "cniVersion": cni.CNI_VERSION,
        "name": record.name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": record.bridge,
                "isGateway": True,
                # Masquerading is one rule per network (``_ensure_host_rules``), not the plugin's
                # chain per container: that cost seven iptables runs on every start, six on exit.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": ranges,
                    # An internal network's containers have no default route: their bridge is all
                    # they reach (as dockerd's --internal networks).
                    "routes": [] if record.internal else routes,
                    "dataDir": str(config.root / "cni" / "networks"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _conflist_path(config: EngineConfig, name: str) -> Path:
    return config.networks_dir / f"{name}.conflist"


def create_network(
    config: EngineConfig,
    db: Metadata,
    name: str,
    pools: Sequence[AddressPool] = (),
    labels: dict[str, str] | None = None,
    internal: bool = False,
    ipv6: bool = False,
) -> NetworkRecord:
    """Create network ``name`` with at most one IPv4 and one IPv6 subnet (``pools``). Without an
    IPv4 one, take the first free /24 after the default subnet; an IPv6 subnet, or ``ipv6``, makes
    it dual-stack (a unique local /64 unless given). ``internal``: no way out of its bridge."""
    check_name(name, "network")
    if name in (NONE, HOST, "bridge"):
        raise InvalidArgument(f"network name {name!r} is reserved")
    existing = db.networks()
    if any(n.name == name for n in existing):
        raise InvalidArgument(f"network {name!r} already exists")
    # The default network's subnet stays reserved even before that network is made on first use.
    taken = _host_routes(4) + _host_routes(6) + [ipaddress.IPv4Network(config.default_subnet)]
    taken += [ipaddress.ip_network(s) for n in existing for s in (n.subnet, n.subnet6) if s]
    chosen: dict[int, tuple[IPNetwork, str, str]] = {}
    for pool in pools:
        net = _pool_subnet(pool, taken)
        if net.version in chosen:
            raise InvalidArgument(f"more than one IPv{net.version} subnet given: a network has one of each")
        chosen[net.version] = (net, _pool_gateway(pool, net), _pool_range(pool, net))
        taken.append(net)
    if 4 not in chosen:
        net4 = _free_subnet(taken, ipaddress.IPv4Network(config.default_subnet))
        chosen[4] = (net4, str(net4.network_address + 1), "")
    network_id = new_id()
    if ipv6 and 6 not in chosen:
        net6 = _unique_local_subnet(network_id)
        _check_subnet(net6, taken)
        chosen[6] = (net6, str(net6.network_address + 1), "")
    used = {n.bridge for n in existing} | set(os.listdir("/sys/class/net"))
    used.add(config.default_network)
    bridge = next(f"berth{i}" for i in range(1, 10000) if f"berth{i}" not in used)
    v4, v6 = chosen[4], chosen.get(6, ("", "", ""))
    record = NetworkRecord(
        name=name,
        id=network_id,
        bridge=bridge,
        subnet=str(v4[0]),
        gateway=v4[1],
        ip_range=v4[2],
        labels=labels or {},
        internal=internal,
        subnet6=str(v6[0]),
        gateway6=v6[1],
        ip_range6=v6[2],
    )
    config.networks_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(_conflist_path(config, name), json.dumps(conflist_for(record, config), indent=2).encode())
    try:
        db.add_network(record)
    except BaseException:
        _conflist_path(config, name).unlink(missing_ok=True)
        raise
    object_event(config, "network", "create", record.name, record.id, {"bridge": record.bridge})
    return record


#: The driver of a network whose configuration list came from elsewhere (a CRI's net.d).
CNI_DRIVER = "cni"


def import_network(config: EngineConfig, db: Metadata, name: str, conflist: dict[str, Any]) -> NetworkRecord:
    """The network ``name`` whose CNI configuration list is ``conflist`` as given: made, or its
    list brought up to date. Its plugins decide everything (Berth adds no masquerade rule and
    deletes no bridge of theirs); ``bridge``, ``subnet`` and ``gateway`` only describe it."""
    check_name(name, "network")
    plugins = conflist.get("plugins") or []
    bridge = next((p["bridge"] for p in plugins if p.get("type") == "bridge" and p.get("bridge")), "")
    ipam: dict[str, Any] = next((p["ipam"] for p in plugins if isinstance(p.get("ipam"), dict)), {})
    ranges = ipam.get("ranges") or [[ipam]]
    first = ranges[0][0] if ranges and ranges[0] else {}
    text = json.dumps(conflist, indent=2)
    path = _conflist_path(config, name)
    try:
        record = db.network(name)
    except NotFound:
        record = NetworkRecord(
            name=name,
            id=new_id(),
            bridge=bridge or f"cni-{name}",
            subnet=str(first.get("subnet", "")),
            gateway=str(first.get("gateway", "")),
            driver=CNI_DRIVER,
        )
        config.networks_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode())
        try:
            db.add_network(record)
        except AlreadyExists:
            made = _made_meanwhile(db, name)
            if made is None:
                raise  # its bridge is another network's
            return made
        object_event(config, "network", "create", record.name, record.id, {"bridge": record.bridge})
        return record
    if not path.exists() or path.read_text() != text:
        atomic_write(path, text.encode())
    return record


def _made_meanwhile(db: Metadata, name: str) -> NetworkRecord | None:
    """The network ``name`` if a concurrent call made it (the CRI's first sandboxes, at once)."""
    try:
        return db.network(name)
    except NotFound:
        return None


def default_network(config: EngineConfig, db: Metadata) -> NetworkRecord:
    """The default bridge network (``berth0`` on the configured default subnet), made on first use."""
    try:
        return db.network(config.default_network)
    except NotFound:
        pass
    try:
        subnet = ipaddress.IPv4Network(config.default_subnet)
    except ValueError as err:
        raise InvalidArgument(f"invalid default_subnet {config.default_subnet!r}: {err}") from None
    for route in _host_routes(4, except_dev=config.default_network):
        if route.version == 4 and subnet.overlaps(route):
            raise InvalidArgument(
                f"default subnet {subnet} overlaps the host route {route}: set [network] default_subnet"
            )
    record = NetworkRecord(
        name=config.default_network,
        id=new_id(),
        bridge=config.default_network,
        subnet=str(subnet),
        gateway=str(subnet.network_address + 1),
    )
    config.networks_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(
        _conflist_path(config, record.name), json.dumps(conflist_for(record, config), indent=2).encode()
    )
    try:
        db.add_network(record)
    except BerthError:
        return db.network(config.default_network)  # another command made it meanwhile
    return record  # no event: the default network is the engine's, as podman's and Docker's are


def resolve_network(config: EngineConfig, db: Metadata, mode: str) -> NetworkRecord | None:
    """The network ``--network mode`` names: ``None`` for none/host, the default for ``bridge``/``""``."""
    if mode in (NONE, HOST):
        return None
    if mode in ("", "bridge", config.default_network):
        return default_network(config, db)
    return db.network(mode)


def remove_network(config: EngineConfig, db: Metadata, name: str, in_use: bool) -> None:
    """Delete network ``name``: its bridge device, IPAM state, configuration and record."""
    record = db.network(name)
    if in_use:
        raise InvalidState(f"network {name} is in use by a container; remove the container first")
    if record.driver != CNI_DRIVER:
        _delete_bridge(record)
    db.remove_network(record.name)
    _conflist_path(config, record.name).unlink(missing_ok=True)
    ipam = config.root / "cni" / "networks" / record.name
    if ipam.is_dir():
        for entry in ipam.iterdir():
            entry.unlink()
        ipam.rmdir()
    object_event(config, "network", "remove", record.name, record.id, {"bridge": record.bridge})


def _delete_bridge(record: NetworkRecord) -> None:
    if os.path.exists(f"/sys/class/net/{record.bridge}"):
        subprocess.run(["ip", "link", "delete", record.bridge, "type", "bridge"], capture_output=True)
    for rule in _host_rules(record):
        while _firewall(rule, "-D"):  # every copy, should a crash between check and add have made two
            pass


#: A host firewall rule: the tool (iptables or ip6tables), its table, and the rule's words.
FirewallRule = tuple[str, str, list[str]]


def _host_rules(record: NetworkRecord) -> list[FirewallRule]:
    """The rules a network needs on the host, each tagged with its name. A network with a way out:
    traffic from its subnet leaving by another device than its bridge takes the host's address
    (as Docker's bridge networks do; IPv6 is routed as it is, as dockerd does by default). An
    internal one: nothing is forwarded into or out of its bridge (dockerd's isolation rules for
    ``--internal``), in both address families."""
    comment = ["-m", "comment", "--comment", f"berth network {record.name}"]
    bridge = record.bridge
    if not record.internal:
        return [("iptables", "nat", ["POSTROUTING", "-s", record.subnet, "!", "-o", bridge, *comment,
                                     "-j", "MASQUERADE"])]  # fmt: skip
    tools = ["iptables", "ip6tables"] if record.subnet6 else ["iptables"]
    ways = (["-i", bridge, "!", "-o", bridge], ["-o", bridge, "!", "-i", bridge])
    return [(tool, "filter", ["FORWARD", *way, *comment, "-j", "DROP"]) for tool in tools for way in ways]


def _firewall(rule: FirewallRule, action: str) -> bool:
    """Run ``ACTION`` (``-C``, ``-D``; ``-I`` adds a filter rule ahead of the host's own
    accepting rules) on ``rule``. Whether the tool succeeded."""
    tool, table, words = rule
    return subprocess.run([tool, "-w", "-t", table, action, *words], capture_output=True).returncode == 0


def _ensure_host_rules(config: EngineConfig, record: NetworkRecord) -> None:
    """Add the network's host rules that are missing. Called when the bridge is about to be made
    (first use, or first use after a reboot, which takes both away), so a running network's starts
    pay nothing for them. Locked: concurrent first starts would each add them."""
    lock = config.runroot / "network-rules" / f"{record.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock):
        for rule in _host_rules(record):
            add = "-I" if rule[1] == "filter" else "-A"
            if not _firewall(rule, "-C") and not _firewall(rule, add):
                raise BerthError(f"cannot add the host rules of network {record.name} ({rule[0]} failed)")


def _runtime_conf(
    config: EngineConfig, cid: str, netns: str, capability_args: dict[str, Any], ifname: str
) -> cni.RuntimeConf:
    """The container's interface on a bridge network, with ``capability_args`` for the plugins."""
    return cni.RuntimeConf(cid, netns, ifname, config.cni_plugin_dirs, capability_args)


def attach(
    config: EngineConfig,
    record: NetworkRecord,
    cid: str,
    netns: Path,
    ports: list[dict[str, Any]],
    ifname: str = FIRST_IFNAME,
    request: EndpointRequest = NO_REQUEST,
) -> dict[str, Any]:
    """Join ``record`` (with ``ports`` published, and what ``request`` asks) as interface
    ``ifname``; return the CNI result. The namespace's loopback is already up (``create_netns``)."""
    if record.driver != CNI_DRIVER and not os.path.exists(f"/sys/class/net/{record.bridge}"):
        _ensure_host_rules(config, record)
    conflist = _conflist(config, record, ports, request)
    runtime = _runtime_conf(config, cid, str(netns), _capability_args(record, ports, request), ifname)
    return cni.add_network(conflist, runtime)


def _conflist(
    config: EngineConfig,
    record: NetworkRecord,
    ports: list[dict[str, Any]],
    request: EndpointRequest = NO_REQUEST,
) -> dict[str, Any]:
    """The network's configuration list for one container: without the portmap plugin when the
    container publishes no port (one plugin run fewer on each start and exit), with the bridge
    plugin's ``ips``/``mac`` capabilities when the container asks for them (so lists stored by
    an earlier Berth serve such requests too). ADD and DEL of a container see the same list,
    since both are given the same ports."""
    conflist = cni.read_conflist(_conflist_path(config, record.name))
    plugins = conflist["plugins"]
    if not ports:
        plugins = [p for p in plugins if p.get("type") != "portmap"]
    wanted = {**({"ips": True} if request.ips else {}), **({"mac": True} if request.mac else {})}
    if wanted:
        plugins = [
            {**p, "capabilities": {**p.get("capabilities", {}), **wanted}} if p.get("type") == "bridge" else p
            for p in plugins
        ]
    return {**conflist, "plugins": plugins}


def detach(
    config: EngineConfig,
    record: NetworkRecord,
    cid: str,
    netns: Path,
    result: dict[str, Any],
    ports: list[dict[str, Any]],
    ifname: str = FIRST_IFNAME,
) -> None:
    """Leave the network (CNI DEL with the cached result). The bridge stays until ``network rm``."""
    conflist = _conflist(config, record, ports)
    # SPEC.md: DEL must succeed even if the namespace is gone; plugins are told an empty path then.
    path = str(netns) if netns.exists() else ""
    try:
        cni.del_network(conflist, _runtime_conf(config, cid, path, {"portMappings": ports}, ifname), result)
    finally:
        if ports:
            remove_idle_portmap_chains()


_PORTMAP_PREFIX = "CNI-HOSTPORT-"


def remove_idle_portmap_chains() -> None:
    """Delete the portmap plugin's shared nat chains once no container publishes a port.

    The plugin removes each container's rules on DEL but leaves its top-level chains and the jumps
    into them for ever; when the DNAT chain is empty nobody needs them, so the host is left as found.
    """
    listing = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True)
    if listing.returncode != 0:
        return
    rules = listing.stdout.splitlines()
    if any(r.startswith(f"-A {_PORTMAP_PREFIX}DNAT ") for r in rules):
        return  # some container still has a published port
    import shlex

    for rule in rules:
        words = shlex.split(rule)
        if (
            rule.startswith("-A ")
            and not words[1].startswith(_PORTMAP_PREFIX)
            and f"-j {_PORTMAP_PREFIX}" in rule
        ):
            subprocess.run(["iptables", "-w", "-t", "nat", "-D", *words[1:]], capture_output=True)
    chains = [shlex.split(r)[1] for r in rules if r.startswith(f"-N {_PORTMAP_PREFIX}")]
    for chain in chains:
        subprocess.run(["iptables", "-w", "-t", "nat", "-F", chain], capture_output=True)
    for chain in chains:
        subprocess.run(["iptables", "-w", "-t", "nat", "-X", chain], capture_output=True)


def check(
    config: EngineConfig,
    record: NetworkRecord,
    cid: str,
    netns: Path,
    result: dict[str, Any],
    ports: list[dict[str, Any]],
    ifname: str = FIRST_IFNAME,
) -> None:
    """CNI CHECK of the container's attachment to ``record`` against the cached ADD ``result``."""
    conflist = _conflist(config, record, ports)
    cni.check_network(
        conflist, _runtime_conf(config, cid, str(netns), {"portMappings": ports}, ifname), result
    )


def network_info(record: NetworkRecord, config: EngineConfig, containers: list[str]) -> dict[str, Any]:
    """``network inspect`` output: the record, its CNI configuration list and its containers."""
    return {
        "name": record.name,
        "id": record.id,
        "driver": record.driver,
        "network_interface": record.bridge,
        "subnets": [
            {"subnet": subnet, "gateway": gateway, **({"ip_range": ip_range} if ip_range else {})}
            for subnet, gateway, ip_range in (
                (record.subnet, record.gateway, record.ip_range),
                (record.subnet6, record.gateway6, record.ip_range6),
            )
            if subnet
        ],
        "ipv6_enabled": bool(record.subnet6),
        "internal": record.internal,
        "labels": record.labels,
        "created": record.created_at,
        "containers": containers,
        "cni_config": conflist_for(record, config),
    }


def remove_stray_nat_rules(network_names: set[str], live: set[str]) -> None:
    """Delete nat rules the bridge plugin made for containers of our networks that are gone.

    The plugin finds a container's masquerade rules on DEL from the addresses still on its
    interface; if the interface lost them, the rules stay. Each rule names its network and container
    in a comment, which is what this sweep matches (rules of other CNI users are left alone).
    """
    import re
    import shlex

    listing = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True)
    if listing.returncode != 0:
        return
    owner = re.compile(r'name: \\?"([^"\\]+)\\?" id: \\?"([0-9a-f]{64})\\?"')
    doomed_chains = set()
    for rule in listing.stdout.splitlines():
        match = owner.search(rule)
        if not rule.startswith("-A ") or match is None:
            continue
        name, cid = match.groups()
        if name in network_names and cid not in live:
            words = shlex.split(rule)
            subprocess.run(["iptables", "-w", "-t", "nat", "-D", *words[1:]], capture_output=True)
            if "-j" in words and words[words.index("-j") + 1].startswith("CNI-"):
                doomed_chains.add(words[words.index("-j") + 1])
            if words[1].startswith("CNI-"):
                doomed_chains.add(words[1])
    for chain in doomed_chains - {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}:
        subprocess.run(["iptables", "-w", "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-t", "nat", "-X", chain], capture_output=True)
