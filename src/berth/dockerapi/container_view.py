"""Containers in Docker's shapes: list entries (``ContainerSummary``) and inspect documents
(``ContainerInspectResponse``), built from the engine's record and its podman-shaped inspect."""

from __future__ import annotations

from typing import Any

from berth.engine.containers.inspect import inspect_container, port_bindings, reported_binds, status_text
from berth.engine.containers.network_setup import endpoint_request
from berth.engine.containers.state import restart_pending
from berth.engine.metadata import CONFIGURED, CREATED, EXITED, PAUSED, RUNNING, STOPPED, ContainerRecord
from berth.engine.options import CreateOptions, parse_publish


def docker_state(record: ContainerRecord) -> str:
    """Docker's state word: created, running, paused, restarting or exited."""
    if restart_pending(record):
        return "restarting"
    return {CONFIGURED: "created", CREATED: "created", RUNNING: "running", PAUSED: "paused",
            STOPPED: "exited", EXITED: "exited"}.get(record.state, record.state)  # fmt: skip


def _image_id(record: ContainerRecord) -> str:
    return record.image_id or ""


def _command(record: ContainerRecord) -> str:
    return " ".join(record.config.get("args", []))


def _summary_ports(opts: CreateOptions) -> list[dict[str, Any]]:
    return [
        {
            "IP": m.host_ip or "0.0.0.0",
            "PrivatePort": m.container_port,
            "PublicPort": m.host_port,
            "Type": m.protocol,
        }
        for m in (parse_publish(p) for p in opts.publish)
    ]


def _network_name(name: str, default_network: str) -> str:
    # Docker clients know the default network as "bridge"
    return "bridge" if name == default_network else name


_UNATTACHED = {
    "IPAddress": "", "IPPrefixLen": 0, "Gateway": "",
    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
}  # fmt: skip


def _ipam_config(ips: tuple[str, ...]) -> dict[str, str] | None:
    """Docker's ``EndpointIPAMConfig``: the addresses a container asked for on a network."""
    if not ips:
        return None
    v4 = [ip for ip in ips if ":" not in ip]
    v6 = [ip for ip in ips if ":" in ip]
    return {**({"IPv4Address": v4[0]} if v4 else {}), **({"IPv6Address": v6[0]} if v6 else {})}


def _networks(podman_doc: dict[str, Any], record: ContainerRecord, default_network: str) -> dict[str, Any]:
    networks = {}
    aliases = CreateOptions.from_json(record.config["options"]).network_alias
    connected = record.config.get("connected", {})
    attached = podman_doc["NetworkSettings"]["Networks"]
    own = record.config.get("network", "")
    # dockerd lists a container's networks whether or not it runs (without addresses then)
    names = [*([own] if own and own not in ("none", "host") and ":" not in own else []), *connected]
    for name in dict.fromkeys([*names, *attached]):
        net = attached.get(name, _UNATTACHED)
        asked = endpoint_request(record, name)
        networks[_network_name(name, default_network)] = {
            "IPAMConfig": _ipam_config(asked.ips),
            "Links": None,
            "Aliases": [*aliases, *connected.get(name, []), record.name, record.id[:12]],
            "NetworkID": name,
            "EndpointID": record.id if net["IPAddress"] else "",
            "Gateway": net["Gateway"],
            "IPAddress": net["IPAddress"],
            "IPPrefixLen": net["IPPrefixLen"],
            "IPv6Gateway": net["IPv6Gateway"],
            "GlobalIPv6Address": net["GlobalIPv6Address"],
            "GlobalIPv6PrefixLen": net["GlobalIPv6PrefixLen"],
            "MacAddress": net["MacAddress"] or asked.mac,
            "DriverOpts": None,
        }
    return networks


def _mounts(record: ContainerRecord) -> list[dict[str, Any]]:
    mounts = []
    for m in record.mounts:
        if m["destination"].startswith("/etc/"):
            continue  # the generated hosts, hostname and resolv.conf, which Docker does not list
        volume = _volume_name(m["source"])
        mounts.append({
            "Type": "volume" if volume else "bind",
            **({"Name": volume, "Driver": "local"} if volume else {}),
            "Source": m["source"],
            "Destination": m["destination"],
            "Mode": "",
            "RW": "ro" not in m["options"],
            "Propagation": "" if volume else _propagation(m["options"]),
        })  # fmt: skip
    return mounts


def _propagation(options: list[str]) -> str:
    kinds = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
    return next((o for o in options if o in kinds), "rprivate")


def _volume_name(source: str) -> str:
    """The named volume whose data directory ``source`` is (``ROOT/volumes/NAME/_data``), or ""."""
    parts = source.rstrip("/").split("/")
    return parts[-2] if len(parts) > 3 and parts[-1] == "_data" and parts[-3] == "volumes" else ""


def summary(record: ContainerRecord, default_network: str) -> dict[str, Any]:
    """A ``GET /containers/json`` entry (``default_network``: the engine's, Docker's ``bridge``)."""
    opts = CreateOptions.from_json(record.config["options"])
    doc = inspect_container(record)
    return {
        "Id": record.id,
        "Names": [f"/{record.name}"],
        "Image": record.image,
        "ImageID": _image_id(record),
        "Command": _command(record),
        "Created": int(record.created_at),
        "Ports": _summary_ports(opts),
        "Labels": opts.labels,
        "State": docker_state(record),
        "Status": status_text(record),
        "HostConfig": {"NetworkMode": _network_name(record.config.get("network", ""), default_network)},
        "NetworkSettings": {"Networks": _networks(doc, record, default_network)},
        "Mounts": _mounts(record),
    }


def inspect(
    record: ContainerRecord, health: dict[str, Any] | None, log_path: str, default_network: str
) -> dict[str, Any]:
    """``GET /containers/{id}/json`` (``default_network``: the engine's, Docker's ``bridge``)."""
    opts = CreateOptions.from_json(record.config["options"])
    doc = inspect_container(record, health)
    state = doc["State"]
    networks = _networks(doc, record, default_network)
    first = next(iter(networks.values()), None)
    ports = doc["HostConfig"]["PortBindings"]
    return {
        "Id": record.id,
        "Created": doc["Created"],
        "Path": doc["Path"],
        "Args": doc["Args"],
        "State": {
            "Status": docker_state(record),
            "Running": record.state in (RUNNING, PAUSED),
            "Paused": state["Paused"],
            "Restarting": state["Restarting"],
            "OOMKilled": state["OOMKilled"],
            "Dead": False,
            "Pid": record.pid if record.state in (RUNNING, PAUSED) else 0,
            "ExitCode": state["ExitCode"],
            "Error": state["Error"],
            "StartedAt": state["StartedAt"],
            "FinishedAt": state["FinishedAt"],
            **({"Health": health} if health is not None else {}),
        },
        "Image": _image_id(record),
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": log_path,
        "Name": f"/{record.name}",
        "RestartCount": record.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(record, opts, doc["HostConfig"], default_network),
        "GraphDriver": {"Name": "overlay", "Data": {"MergedDir": record.config.get("rootfs", "")}},
        "Mounts": _mounts(record),
        "Config": _config(record, opts, doc),
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": record.id if record.networks else "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SandboxKey": "",
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": first["EndpointID"] if first else "",
            "Gateway": first["Gateway"] if first else "",
            "GlobalIPv6Address": first["GlobalIPv6Address"] if first else "",
            "GlobalIPv6PrefixLen": first["GlobalIPv6PrefixLen"] if first else 0,
            "IPAddress": first["IPAddress"] if first else "",
            "IPPrefixLen": first["IPPrefixLen"] if first else 0,
            "IPv6Gateway": first["IPv6Gateway"] if first else "",
            "MacAddress": first["MacAddress"] if first else "",
            "Networks": networks,
        },
    }


def _config(record: ContainerRecord, opts: CreateOptions, doc: dict[str, Any]) -> dict[str, Any]:
    config = doc["Config"]
    return {
        "Hostname": config["Hostname"] or record.id[:12],
        "Domainname": "",
        "User": opts.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": {key: {} for key in port_bindings(opts)} or None,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": False,
        "Env": config["Env"],
        "Cmd": opts.command or None,
        "Image": record.image,
        "Volumes": None,
        "WorkingDir": config["WorkingDir"],
        "Entrypoint": opts.entrypoint,
        "OnBuild": None,
        "Labels": opts.labels,
        "StopSignal": config["StopSignal"],
        "StopTimeout": opts.stop_timeout,
        **({"Healthcheck": _healthcheck(opts)} if opts.health_test else {}),
    }


def _healthcheck(opts: CreateOptions) -> dict[str, Any]:
    """The container's own check in Docker's shape (durations in nanoseconds; 0: the default)."""

    def ns(seconds: float | None) -> int:
        return int((seconds or 0) * 1_000_000_000)

    return {
        "Test": opts.health_test,
        "Interval": ns(opts.health_interval),
        "Timeout": ns(opts.health_timeout),
        "StartPeriod": ns(opts.health_start_period),
        "Retries": opts.health_retries or 0,
    }


def _host_config(
    record: ContainerRecord, opts: CreateOptions, engine_host: dict[str, Any], default_network: str
) -> dict[str, Any]:
    """Docker's ``HostConfig``; ``engine_host`` is the engine's (podman's layout)."""
    from berth.engine.options import RestartPolicy

    policy = RestartPolicy.parse(opts.restart)
    return {
        "Binds": reported_binds(opts) or None,
        "ContainerIDFile": "",
        # Clients read logs through the API only from drivers they know (docker-py: json-file or
        # journald): k8s-file, the same log, is json-file here, as podman's service says.
        "LogConfig": {"Type": "none" if opts.log_driver == "none" else "json-file", "Config": {}},
        "NetworkMode": _network_name(record.config.get("network", ""), default_network),
        "PortBindings": engine_host["PortBindings"],
        "RestartPolicy": {"Name": policy.name, "MaximumRetryCount": policy.max_retries},
        "AutoRemove": opts.remove,
        "VolumeDriver": "",
        "VolumesFrom": opts.volumes_from or None,
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "Dns": opts.dns,
        "DnsOptions": opts.dns_option,
        "DnsSearch": opts.dns_search,
        "ExtraHosts": opts.add_host or None,
        "Privileged": opts.privileged,
        "PublishAllPorts": False,
        "ReadonlyRootfs": opts.read_only,
        "SecurityOpt": opts.security_opt or None,
        "Tmpfs": engine_host["Tmpfs"] or None,
        "Memory": engine_host["Memory"],
        "NanoCpus": engine_host["NanoCpus"],
        "PidsLimit": opts.pids_limit or None,
        "Runtime": record.runtime,
        "Mounts": None,
        "PidMode": opts.pid,
        "UTSMode": opts.uts,
        "IpcMode": opts.ipc or "private",
        "GroupAdd": opts.group_add or None,
        "CpuShares": opts.cpu_shares,
        "CpuRealtimePeriod": opts.cpu_rt_period,
        "CpuRealtimeRuntime": opts.cpu_rt_runtime,
        "CpusetCpus": opts.cpuset_cpus,
        "CpusetMems": opts.cpuset_mems,
        "MemorySwap": _memory_swap(opts),
        "MemorySwappiness": opts.memory_swappiness,
        "Init": opts.init,
    }


def _memory_swap(opts: CreateOptions) -> int:
    """``MemorySwap`` as dockerd reports it: memory plus swap, -1 unlimited, 0 without a limit."""
    from berth.engine.units import parse_size

    if opts.memory_swap:
        return -1 if opts.memory_swap == "-1" else parse_size(opts.memory_swap)
    return parse_size(opts.memory) if opts.memory else 0
