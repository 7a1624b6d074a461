"""A container create request (engine API ``ContainerCreateRequest``: the container config with
``HostConfig`` and ``NetworkingConfig``) as the engine's ``CreateOptions``."""

from __future__ import annotations

import socket
from typing import Any

from berth.dockerapi.errors import ApiError
from berth.engine.options import CreateOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.networks.bridge import EndpointRequest

#: NanoCpus and the health check's durations are nanoseconds.
_NS = 1_000_000_000


class Fields:
    """Typed reading of one JSON object of the request; a wrong type is a 400 naming the field."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ApiError(400, f"invalid {where or 'request body'}: want a JSON object")
        self.data = data
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, kinds: type | tuple[type, ...], what: str, default: Any) -> Any:
        value = self.data.get(key)
        if value is None:
            # dockerd decodes with Go's encoding/json, which matches keys in any case (docker-py
            # sends CPURealtimePeriod for the API's CpuRealtimePeriod)
            value = next((v for k, v in self.data.items() if k.lower() == key.lower()), None)
        if value is None:
            return default
        # bool is an int in Python, but never a number in JSON
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds)):
            raise ApiError(400, f"invalid {self._name(key)}: want {what}")
        return value

    def text(self, key: str, default: str = "") -> str:
        """A string field."""
        return str(self._get(key, str, "a string", default))

    def flag(self, key: str) -> bool:
        """A boolean field."""
        return bool(self._get(key, bool, "true or false", False))

    def number(self, key: str, default: int = 0) -> int:
        """An integer field."""
        return int(self._get(key, int, "an integer", default))

    def strings(self, key: str) -> list[str]:
        """A list of strings (null: empty)."""
        value = self._get(key, list, "a list of strings", [])
        if not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"invalid {self._name(key)}: want a list of strings")
        return list(value)

    def command(self, key: str) -> list[str] | None:
        """``Cmd``/``Entrypoint``: a list of strings or one string; None when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        return self.strings(key)

    def mapping(self, key: str) -> dict[str, Any]:
        """An object field (null: empty)."""
        return dict(self._get(key, dict, "a JSON object", {}))

    def labels(self, key: str) -> dict[str, str]:
        """A string-to-string object."""
        value = self.mapping(key)
        if not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, f"invalid {self._name(key)}: want an object of strings")
        return value

    def child(self, key: str) -> Fields:
        """A nested object."""
        return Fields(self.data.get(key), self._name(key))

    def objects(self, key: str) -> list[Fields]:
        """A list of objects."""
        value = self._get(key, list, "a list of objects", [])
        return [Fields(item, f"{self._name(key)}[{i}]") for i, item in enumerate(value)]


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def create_options(body: Any, name: str) -> CreateOptions:
    """The engine's options for a create request's ``body`` and its ``name`` query parameter."""
    config = Fields(body, "")
    host = config.child("HostConfig")
    image = config.text("Image")
    if not image:
        raise ApiError(400, "no image given: Image is required")
    volumes, tmpfs = _mounts(config, host)
    network = _network(host.text("NetworkMode"), config.child("NetworkingConfig"))
    own_endpoint = _own_endpoint(network, config.child("NetworkingConfig"))
    own_ip, own_ip6 = _ipam_addresses(own_endpoint)
    health = config.child("Healthcheck")
    return CreateOptions(
        image=image,
        command=config.command("Cmd") or [],
        name=name,
        entrypoint=config.command("Entrypoint"),
        env=config.strings("Env"),
        volumes=volumes,
        tmpfs=tmpfs,
        workdir=config.text("WorkingDir"),
        user=config.text("User"),
        hostname=config.text("Hostname"),
        read_only=host.flag("ReadonlyRootfs"),
        cap_add=host.strings("CapAdd"),
        cap_drop=host.strings("CapDrop"),
        privileged=host.flag("Privileged"),
        security_opt=host.strings("SecurityOpt"),
        memory=str(host.number("Memory")) if host.number("Memory") > 0 else "",
        cpus=str(host.number("NanoCpus") / _NS) if host.number("NanoCpus") > 0 else "",
        pids_limit=host.number("PidsLimit"),
        network=network,
        network_alias=_aliases(network, config.child("NetworkingConfig")),
        ip=own_ip,
        ip6=own_ip6,
        # docker-py still sends the older Config.MacAddress
        mac_address=own_endpoint.text("MacAddress") or config.text("MacAddress"),
        publish=_port_bindings(host),
        interactive=config.flag("OpenStdin"),
        tty=config.flag("Tty"),
        remove=host.flag("AutoRemove"),
        stop_signal=config.text("StopSignal"),
        stop_timeout=config.number("StopTimeout", 10),
        restart=_restart_policy(host.child("RestartPolicy")),
        health_test=health.strings("Test") if health.strings("Test") != ["NONE"] else [],
        health_interval=_seconds(health.number("Interval")),
        health_timeout=_seconds(health.number("Timeout")),
        health_retries=health.number("Retries") or None,
        health_start_period=_seconds(health.number("StartPeriod")),
        no_healthcheck=health.strings("Test") == ["NONE"],
        labels=config.labels("Labels"),
        pull="never",  # Docker's create never pulls: the client pulls on a 404 and retries
        dns=host.strings("Dns"),
        dns_search=host.strings("DnsSearch"),
        dns_option=host.strings("DnsOptions"),
        add_host=host.strings("ExtraHosts"),
        pid=host.text("PidMode"),
        uts=host.text("UTSMode"),
        ipc=_ipc_mode(host.text("IpcMode")),
        group_add=host.strings("GroupAdd"),
        cpu_shares=host.number("CpuShares"),
        cpu_rt_period=host.number("CpuRealtimePeriod"),
        cpu_rt_runtime=host.number("CpuRealtimeRuntime"),
        cpuset_cpus=host.text("CpusetCpus"),
        cpuset_mems=host.text("CpusetMems"),
        memory_swap=_memory_swap(host.number("MemorySwap")),
        # Docker's -1 is the kernel's swappiness
        memory_swappiness=swappiness if (swappiness := host.number("MemorySwappiness", -1)) >= 0 else None,
        init=host.flag("Init"),
        runtime=host.text("Runtime"),
        volumes_from=host.strings("VolumesFrom"),
        log_driver=_log_driver(host.child("LogConfig")),
    )


def _seconds(ns: int) -> float | None:
    return ns / _NS if ns > 0 else None


def _network(mode: str, networking: Fields) -> str:
    """The network: ``NetworkMode``, or with the default mode the one network of
    ``NetworkingConfig.EndpointsConfig`` (as docker-compose names a service's network); Docker's
    ``default`` and ``bridge`` are the engine's default network."""
    endpoints = list(networking.mapping("EndpointsConfig"))
    if mode in ("", "default") and endpoints:
        mode = endpoints[0]
    return "" if mode in ("", "default", "bridge") else mode


def _ipam_addresses(endpoint: Fields) -> tuple[str, str]:
    """An endpoint's ``IPAMConfig.IPv4Address`` and ``IPv6Address`` (the engine checks them)."""
    ipam = endpoint.child("IPAMConfig")
    return ipam.text("IPv4Address"), ipam.text("IPv6Address")


def more_networks(body: Any) -> dict[str, tuple[list[str], EndpointRequest]]:
    """The networks of ``NetworkingConfig.EndpointsConfig`` beyond the container's own (it is
    connected to them once made), each with its ``Aliases`` and what it asks of its interface."""
    config = Fields(body, "")
    networking = config.child("NetworkingConfig")
    own = _network(config.child("HostConfig").text("NetworkMode"), networking) or "default"
    endpoints = networking.child("EndpointsConfig")
    return {
        name: (endpoints.child(name).strings("Aliases"), endpoint_request(endpoints.child(name)))
        for name in endpoints.data
        if name != own and not (own == "default" and name in ("bridge", "default"))
    }


def endpoint_request(endpoint: Fields) -> EndpointRequest:
    """An ``EndpointSettings``' fixed addresses and ``MacAddress`` as the engine's request."""
    from berth.engine.networks.bridge import EndpointRequest

    return EndpointRequest(tuple(ip for ip in _ipam_addresses(endpoint) if ip), endpoint.text("MacAddress"))


def _own_endpoint(network: str, networking: Fields) -> Fields:
    """The ``EndpointsConfig`` entry of the container's own network (``bridge`` for the default)."""
    endpoints = networking.child("EndpointsConfig")
    names = [network] if network else ["bridge", "default"]
    return next((endpoints.child(n) for n in names if n in endpoints.data), Fields({}, "EndpointsConfig"))


def _aliases(network: str, networking: Fields) -> list[str]:
    """``Aliases`` of the endpoint for ``network`` (docker-compose gives each container its
    service's name), on user networks only, as dockerd takes them."""
    endpoints = networking.child("EndpointsConfig")
    if not network or network in ("none", "host") or network not in endpoints.data:
        return []
    return endpoints.child(network).strings("Aliases")


def _log_driver(log: Fields) -> str:
    """``LogConfig.Type``: ``json-file`` by default, as dockerd's; ``k8s-file`` (podman's name of
    the same log) and ``none`` as the engine has them."""
    from berth.engine.options import LOG_DRIVERS

    driver = log.text("Type") or "json-file"
    if driver not in LOG_DRIVERS:
        raise ApiError(400, f"logger: no log driver named '{driver}' is registered")  # dockerd's words
    return driver


def _ipc_mode(mode: str) -> str:
    """dockerd's ``private`` and ``shareable`` both give the container an IPC namespace of its own."""
    return "" if mode in ("private", "shareable") else mode


def _memory_swap(total: int) -> str:
    """``MemorySwap`` (memory plus swap, -1 unlimited, 0 unset) as the engine's ``--memory-swap``."""
    return "" if total == 0 else str(total)


def _restart_policy(policy: Fields) -> str:
    name = policy.text("Name", "no") or "no"
    retries = policy.number("MaximumRetryCount")
    if name == "on-failure" and retries > 0:
        return f"on-failure:{retries}"
    return name


def _mounts(config: Fields, host: Fields) -> tuple[list[str], list[str]]:
    """``Binds``, ``Mounts``, ``Tmpfs`` and the config's anonymous ``Volumes`` as the engine's
    ``-v`` and ``--tmpfs`` forms."""
    volumes = host.strings("Binds")
    tmpfs = [f"{dest}:{opts}" if opts else dest for dest, opts in host.labels("Tmpfs").items()]
    for mount in host.objects("Mounts"):
        kind, target = mount.text("Type", "volume"), mount.text("Target")
        if not target:
            raise ApiError(400, f"invalid {mount.where}: Target is required")
        if kind == "tmpfs":
            options = mount.child("TmpfsOptions")
            size, mode = options.number("SizeBytes"), options.number("Mode")
            opts = [*([f"size={size}"] if size else []), *([f"mode={mode:o}"] if mode else [])]
            tmpfs.append(f"{target}:{','.join(opts)}" if opts else target)
        elif kind in ("bind", "volume"):
            source = mount.text("Source")
            if kind == "bind" and not source:
                raise ApiError(400, f"invalid {mount.where}: a bind mount needs a Source")
            suffix = ":ro" if mount.flag("ReadOnly") else ""
            volumes.append(f"{source}:{target}{suffix}" if source else target)
        else:
            raise ApiError(400, f"invalid {mount.where}: mount type {kind!r} is not supported")
    # the config's Volumes a bind, a volume or a tmpfs already covers get no anonymous volume
    covered = {v.split(":")[1] if ":" in v else v for v in volumes}
    covered |= {t.partition(":")[0] for t in tmpfs}
    volumes += [dest for dest in config.mapping("Volumes") if dest not in covered]
    return volumes, tmpfs


def _port_bindings(host: Fields) -> list[str]:
    """``PortBindings`` (``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``) as ``-p`` forms; an
    empty host port is a free one chosen now, as dockerd chooses one."""
    published = []
    for port, bindings in host.mapping("PortBindings").items():
        number, _, protocol = port.partition("/")
        if not isinstance(bindings, list):
            raise ApiError(400, f"invalid HostConfig.PortBindings[{port!r}]: want a list of objects")
        for binding in (Fields(b, f"HostConfig.PortBindings[{port!r}]") for b in bindings):
            host_ip, host_port = binding.text("HostIp"), binding.text("HostPort")
            if not host_port:
                host_port = str(_free_port(protocol or "tcp"))
            prefix = f"{host_ip}:" if host_ip else ""
            published.append(f"{prefix}{host_port}:{number}/{protocol or 'tcp'}")
    return published


def _free_port(protocol: str) -> int:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
    return port
