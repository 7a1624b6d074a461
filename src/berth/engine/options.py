"""The user's request for a container, parsed and validated before anything is created.

``CreateOptions`` holds the ``run``/``create`` flags as given; ``parse_*`` helpers turn the textual
forms (``-e``, ``--env-file``, ``-v``, ``--tmpfs``, ``-p``) into checked values and raise
``InvalidArgument`` naming the bad flag, so bad input fails before the engine touches the host.
"""

from __future__ import annotations

import re
from pathlib import Path

from berth.errors import InvalidArgument
from berth.spec.records import as_dict, field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@record
class CreateOptions:
    """Flags of ``berth create``/``berth run`` (podman's names)."""

    image: str = ""
    rootfs: str = ""
    command: list[str] = field(default_factory=list)
    name: str = ""
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    memory: str = ""
    cpus: str = ""
    pids_limit: int = 0
    network: str = ""
    publish: list[str] = field(default_factory=list)
    interactive: bool = False
    tty: bool = False
    remove: bool = False
    runtime: str = ""
    stop_signal: str = ""
    stop_timeout: int = 10
    #: ``no``, ``always``, ``unless-stopped``, ``on-failure`` or ``on-failure:N`` (podman's --restart)
    restart: str = "no"
    #: ``--log-opt max-size``: the log file's size limit in bytes (0: none)
    log_size_max: int = 0
    #: ``--log-opt path``: where the monitor writes the log ("" for the container's own file, which
    #: is otherwise a symbolic link to it)
    log_path: str = ""
    #: ``--health-*``: Docker's ``Healthcheck.Test`` form (``["CMD-SHELL", "..."]`` or
    #: ``["CMD", arg...]``; empty: the image's, if any) and its timing in seconds (None: the
    #: image's, or Docker's defaults); ``--no-healthcheck`` turns any check off
    health_test: list[str] = field(default_factory=list)
    health_interval: float | None = None
    health_timeout: float | None = None
    health_retries: int | None = None
    health_start_period: float | None = None
    no_healthcheck: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    #: written to config.json ``annotations`` (config.md#annotations), shown by ``inspect``
    annotations: dict[str, str] = field(default_factory=dict)
    pull: str = "missing"
    tls_verify: bool | None = None
    #: ``--pod``: the pod (name or id) whose namespaces, hostname, /etc files and cgroup the
    #: container joins (``network``, ``publish`` and ``hostname`` must then be empty)
    pod: str = ""
    #: with ``pod``: this container is the pod's infra, which owns the namespaces the others join
    #: (podman's specgen ``IsInfra``); its network, ports and hostname are the pod's
    pod_infra: bool = False
    #: ``--init-ctr``: ``always`` or ``once`` makes it an init container of its pod, run to
    #: completion before the others when the pod starts (``once``: removed after it succeeded)
    init_ctr: str = ""
    #: ``--cgroup-parent``: the cgroup the container's cgroup goes in ("" for the engine's)
    cgroup_parent: str = ""
    #: ``--dns``, ``--dns-search``, ``--dns-option``: the container's resolv.conf instead of the host's
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    #: ``--add-host HOST:IP``: extra /etc/hosts lines
    add_host: list[str] = field(default_factory=list)
    #: ``--pid host``, ``--ipc host``: the host's PID or IPC namespace instead of a new one
    pid: str = ""
    ipc: str = ""
    #: ``--sysctl KEY=VALUE``: namespaced kernel parameters set in the container's namespaces
    sysctl: list[str] = field(default_factory=list)
    #: ``--group-add``: supplementary groups (GIDs, or names in the image's /etc/group)
    group_add: list[str] = field(default_factory=list)
    #: only ``group_add``'s groups, not the user's memberships in the image's /etc/group (the
    #: CRI's SupplementalGroupsPolicy Strict)
    strict_groups: bool = False
    #: ``--device HOST[:CONTAINER[:PERMISSIONS]]``: host devices made in the container's /dev
    devices: list[str] = field(default_factory=list)
    #: ``--uidmap``, ``--gidmap CONTAINER:HOST:SIZE``: a user namespace with these mappings (the
    #: gid mappings default to the uid ones)
    uidmap: list[str] = field(default_factory=list)
    gidmap: list[str] = field(default_factory=list)
    #: ``--oom-score-adj``: the container's processes' OOM score adjustment (None: inherited)
    oom_score_adj: int | None = None
    #: the masked and read-only paths instead of podman's defaults (None: the defaults; the CRI
    #: gives its own lists)
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    #: ``--network-alias``: more names the container is found by on its user network
    network_alias: list[str] = field(default_factory=list)
    #: ``--ip``, ``--ip6``, ``--mac-address``: its interface's addresses on that network
    ip: str = ""
    ip6: str = ""
    mac_address: str = ""
    #: ``--uts host``: the host's UTS namespace ("": a new one)
    uts: str = ""
    #: ``--cpu-shares`` (0: the default weight), ``--cpuset-cpus``, ``--cpuset-mems``
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    #: ``--cpu-rt-period``, ``--cpu-rt-runtime`` (microseconds; 0: the default)
    cpu_rt_period: int = 0
    cpu_rt_runtime: int = 0
    #: ``--memory-swap``: memory plus swap ("-1": swap unlimited; "": no swap beyond --memory)
    memory_swap: str = ""
    #: ``--memory-swappiness`` 0-100 (None: the kernel's)
    memory_swappiness: int | None = None
    #: ``--init``: a minimal init (catatonit) as PID 1, which reaps zombies and forwards signals
    init: bool = False
    #: ``--volumes-from CONTAINER[:ro|rw]``: that container's volumes and binds, at its paths
    volumes_from: list[str] = field(default_factory=list)
    #: ``--log-driver``: ``k8s-file`` (the CRI-format log), ``json-file`` (podman's alias of
    #: k8s-file, the same log under Docker's name) or ``none`` (no log is written)
    log_driver: str = "k8s-file"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, as stored in the container's record."""
        return as_dict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CreateOptions:
        """Inverse of ``to_json``."""
        return cls(**data)


#: One id mapping (containerID, hostID, size).
IdMap = tuple[int, int, int]


def id_mappings(opts: CreateOptions) -> tuple[tuple[IdMap, ...], tuple[IdMap, ...]] | None:
    """``--uidmap`` and ``--gidmap`` (the uid ones when none), each ``CONTAINER:HOST:SIZE`` as
    podman takes them; None without a user namespace."""
    if not opts.uidmap:
        return None
    return _idmaps(opts.uidmap, "--uidmap"), _idmaps(opts.gidmap or opts.uidmap, "--gidmap")


def _idmaps(texts: list[str], flag: str) -> tuple[IdMap, ...]:
    maps = []
    for text in texts:
        parts = text.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[2]) == 0:
            raise InvalidArgument(f"invalid {flag} {text!r}: want CONTAINER:HOST:SIZE")
        maps.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return tuple(maps)


def check_name(name: str, what: str = "container") -> str:
    """``name`` if it is a valid object name (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``)."""
    if not _NAME.match(name):
        raise InvalidArgument(f"invalid {what} name {name!r}: want [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return name


@record(frozen=True)
class RestartPolicy:
    """``--restart``: when the engine starts an exited container again (``max_retries`` 0: no limit)."""

    name: str = "no"
    max_retries: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """podman's forms: ``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
        name, colon, count = (text or "no").partition(":")
        if name not in ("no", "always", "unless-stopped", "on-failure") or (colon and name != "on-failure"):
            raise InvalidArgument(
                f"invalid --restart {text!r}: want no, always, unless-stopped or on-failure[:N]"
            )
        if colon and not count.isdigit():
            raise InvalidArgument(f"invalid --restart {text!r}: the retry count must be a number")
        return cls(name, int(count) if colon else 0)

    def wants_restart(self, exit_code: int, restarts: int) -> bool:
        """Whether a container that exited with ``exit_code``, restarted ``restarts`` times already by
        this policy and not stopped by a user, is to be started again."""
        if self.name in ("always", "unless-stopped"):
            return True
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries == 0 or restarts < self.max_retries)
        return False


def parse_health_cmd(text: str) -> list[str]:
    """``--health-cmd``: a JSON array is the command itself (``CMD``), anything else a shell
    command line (``CMD-SHELL``); ``none`` or empty: no health check (as podman)."""
    import json

    if not text.strip() or text.strip().lower() == "none":
        return []
    if text.lstrip().startswith("["):
        try:
            args = json.loads(text)
        except ValueError:
            args = None
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise InvalidArgument(
                f"invalid --health-cmd {text!r}: a JSON array of strings, or a shell command"
            )
        return ["CMD", *args]
    return ["CMD-SHELL", text]


#: podman's log drivers that Berth has (journald and passthrough it has not).
LOG_DRIVERS = ("k8s-file", "json-file", "none")


def check_log_driver(opts: CreateOptions) -> None:
    """``--log-driver`` is one of ``LOG_DRIVERS``, and ``--log-opt`` comes only with a driver that
    writes a log."""
    if opts.log_driver not in LOG_DRIVERS:
        raise InvalidArgument(f"unsupported --log-driver {opts.log_driver!r}: want {', '.join(LOG_DRIVERS)}")
    if opts.log_driver == "none" and (opts.log_size_max or opts.log_path):
        raise InvalidArgument("--log-opt needs a log: the none log driver writes none")


#: conmon's read buffer: podman refuses a smaller log size limit, which one read could exceed.
MIN_LOG_SIZE = 8192


def parse_log_opts(options: list[str]) -> int:
    """``--log-opt KEY=VALUE`` flags; only ``max-size`` is known. Returns the limit in bytes (0: none)."""
    from berth.engine.units import parse_size

    limit = 0
    for option in options:
        key, eq, value = option.partition("=")
        if key != "max-size" or not eq:
            raise InvalidArgument(f"unsupported --log-opt {option!r}: only max-size=SIZE is supported")
        limit = parse_size(value, "--log-opt max-size")
        if 0 < limit < MIN_LOG_SIZE:
            raise InvalidArgument(f"--log-opt max-size {value!r}: at least {MIN_LOG_SIZE} bytes, or 0")
    return limit


def parse_env(pairs: list[str], files: list[str]) -> list[str]:
    """``KEY=VALUE`` entries from ``--env-file`` files then ``-e`` flags (``-e KEY`` copies the host's)."""
    import os

    entries: list[str] = []
    for path in files:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise InvalidArgument(f"cannot read --env-file {path}: {err.strerror}") from None
        entries += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    entries += pairs
    result = []
    for entry in entries:
        key, eq, value = entry.partition("=")
        if not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"invalid environment variable {entry!r}: want KEY=VALUE")
        if not eq:
            if key not in os.environ:
                continue
            value = os.environ[key]
        result.append(f"{key}={value}")
    return result


def merge_env(base: list[str], overrides: list[str]) -> list[str]:
    """``base`` with each ``KEY=`` of ``overrides`` replacing or appending (image Env, then flags)."""
    merged: dict[str, str] = {}
    for entry in [*base, *overrides]:
        key, _, value = entry.partition("=")
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]


@record(frozen=True)
class VolumeSpec:
    """One ``-v`` flag: a bind mount (``source`` absolute) or a named volume (``name``)."""

    destination: str
    source: str = ""
    name: str = ""
    read_only: bool = False
    #: the options as given (``berth.engine.volumes.mount_options`` adds the defaults)
    options: tuple[str, ...] = ()


#: ``-v`` propagation options (podman's), as the recursive mount option each means here (the
#: whole tree below a bind propagates alike; runtime-spec config.md#mounts).
PROPAGATIONS = {"private": "rprivate", "rprivate": "rprivate", "shared": "rshared", "rshared": "rshared",
                "slave": "rslave", "rslave": "rslave"}  # fmt: skip
#: Options of which one at most may be given (podman refuses both of a pair); ``rro`` is Berth's
#: read-only all the way down.
_EXCLUSIVE = (("ro", "rw"), ("rro", "rw"), ("exec", "noexec"), ("suid", "nosuid"), ("dev", "nodev"),
              ("bind", "rbind"), ("z", "Z"), tuple(PROPAGATIONS))  # fmt: skip
_VOLUME_OPTIONS = {option for group in _EXCLUSIVE for option in group}


def parse_volume(text: str) -> VolumeSpec:
    """Parse ``SRC:DEST[:OPTS]`` where SRC is an absolute host path or a volume name, or ``DEST``."""
    parts = text.split(":")
    if len(parts) == 1:
        source, dest, opts = "", parts[0], ""
    elif len(parts) in (2, 3):
        source, dest, opts = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    else:
        raise InvalidArgument(f"invalid volume {text!r}: want SOURCE:DESTINATION[:OPTIONS]")
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid volume {text!r}: destination {dest!r} is not an absolute path")
    options = tuple(o for o in opts.split(",") if o)
    unknown = [o for o in options if o not in _VOLUME_OPTIONS]
    if unknown:
        raise InvalidArgument(f"invalid volume {text!r}: unknown option {unknown[0]!r}")
    for group in _EXCLUSIVE:
        given = [o for o in options if o in group]
        if len(given) > 1:
            raise InvalidArgument(f"invalid volume {text!r}: only one of {', '.join(group)} may be given")
    read_only = "ro" in options or "rro" in options
    if source.startswith("/"):
        if not Path(source).exists():
            raise InvalidArgument(f"invalid volume {text!r}: host path {source} does not exist")
        return VolumeSpec(dest, source=source, read_only=read_only, options=options)
    if source:
        check_name(source, "volume")
    return VolumeSpec(dest, name=source, read_only=read_only, options=options)


def parse_tmpfs(text: str) -> tuple[str, list[str]]:
    """``--tmpfs DEST[:OPTIONS]`` as (destination, mount options)."""
    dest, _, opts = text.partition(":")
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid --tmpfs {text!r}: destination is not an absolute path")
    options = [o for o in opts.split(",") if o] or ["rw", "noexec", "nosuid", "nodev"]
    return dest, options


@record(frozen=True)
class PortMapping:
    """One ``-p``: CNI's ``portMappings`` capability entry (CONVENTIONS.md#port-mappings)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""

    def to_cni(self) -> dict[str, Any]:
        """The runtimeConfig form the portmap plugin reads."""
        entry: dict[str, Any] = {
            "hostPort": self.host_port,
            "containerPort": self.container_port,
            "protocol": self.protocol,
        }
        if self.host_ip:
            entry["hostIP"] = self.host_ip
        return entry


def _port(text: str, flag: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidArgument(f"invalid port {text!r} in -p {flag!r}: want 1-65535")
    return int(text)


def parse_publish(text: str) -> PortMapping:
    """``-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]``."""
    spec, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp"):
        raise InvalidArgument(f"invalid protocol {protocol!r} in -p {text!r}: want tcp or udp")
    parts = spec.rsplit(":", 2)
    if len(parts) == 2:
        host_ip, host, ctr = "", *parts
    elif len(parts) == 3:
        host_ip, host, ctr = parts
    else:
        raise InvalidArgument(f"invalid -p {text!r}: want [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTOCOL]")
    if host_ip:
        import ipaddress

        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid host IP {host_ip!r} in -p {text!r}") from None
    return PortMapping(_port(host, text), _port(ctr, text), protocol, host_ip)


def parse_entrypoint(text: str) -> list[str]:
    """``--entrypoint``: a JSON array, or one command (podman: an empty string clears it)."""
    import json

    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidArgument(f"invalid --entrypoint {text!r}: want a command or a JSON array of strings")
        return value
    return [text] if text else []
