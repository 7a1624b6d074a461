"""runtime-spec ``config.json`` (config.md, config-linux.md) versions 1.0.0 to 1.3.x as typed data.

``parse_config(obj)`` takes the decoded JSON object and returns a ``RuntimeConfig`` (``Record``
types, which cost nothing to define on the start path); every problem
raises ``InvalidArgument`` naming the offending field (``mounts[2].destination: ...``). No I/O:
the caller reads the file. ``linux.resources`` and ``linux.seccomp`` are checked for shape only and
kept as the parsed JSON, because the cgroup and seccomp modules consume them in that form.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.spec.runtime_record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Mapping
    from types import MappingProxyType
    from typing import Any
else:
    MappingProxyType = type(type.__dict__)  # the types module costs ~0.3 ms on the runtime's start

#: The specification versions this parser understands (config.md#specification-version).
SUPPORTED_MAJOR = 1
MAX_MINOR = 3

#: config-linux.md#namespaces: the namespace types a Linux container may have.
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

#: config-linux.md#devices: ``c``/``u`` character, ``b`` block, ``p`` FIFO.
DEVICE_TYPES = ("c", "b", "u", "p")

#: config.md#posix-platform-hooks, in the order the lifecycle runs them.
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

#: capabilities(7) names known to this runtime, in kernel number order (CAP_CHOWN is 0).
CAPABILITY_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

#: setrlimit(2) resource names (config.md#posix-process rlimits).
RLIMIT_TYPES = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)  # fmt: skip

#: config.md#linux-process scheduler policies, in the kernel's order (SCHED_OTHER is 0).
SCHED_POLICIES = ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
                  "SCHED_DEADLINE")  # fmt: skip

#: config.md#linux-process scheduler flags; flag ``i`` is the kernel's bit ``1 << i``.
SCHED_FLAGS = ("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
               "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
               "SCHED_FLAG_UTIL_CLAMP_MAX")  # fmt: skip

#: config.md#linux-process ioPriority classes; class ``i`` is the kernel's ``i + 1``.
IOPRIO_CLASSES = ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")

#: config-linux.md#memory-policy modes, in the kernel's order (linux/mempolicy.h: MPOL_DEFAULT is 0).
MPOL_MODES = ("MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL",
              "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE")  # fmt: skip

#: config-linux.md#memory-policy flags and their bits in set_mempolicy(2)'s mode argument.
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}  # fmt: skip

#: config-linux.md#rootfs-mount-propagation.
ROOTFS_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                       "runbindable")  # fmt: skip

#: The shared, immutable default of empty mapping fields.
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_SEMVER_EXTRA = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-")


class Root(Record):
    """config.md#root: the container's root filesystem (relative paths are to the bundle)."""

    path: str
    readonly: bool = False


class IDMapping(Record):
    """config-linux.md#user-namespace-mappings: ``size`` ids from ``container_id`` map to ``host_id``."""

    container_id: int
    host_id: int
    size: int


class Mount(Record):
    """config.md#mounts: one entry of ``mounts``, applied in order."""

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()

    @property
    def idmapped(self) -> bool:
        """Whether the mount asks for an idmapping (its own mappings, or option idmap/ridmap)."""
        return (
            bool(self.uid_mappings or self.gid_mappings)
            or "idmap" in self.options
            or "ridmap" in self.options
        )


class Rlimit(Record):
    """config.md#posix-process: one ``rlimits`` entry."""

    type: str
    soft: int
    hard: int


class Capabilities(Record):
    """config.md#linux-process: the five capability sets, as capability names."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class User(Record):
    """config.md#user: ids the process runs as, and its umask (None: leave as inherited)."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


class ConsoleSize(Record):
    """config.md#process consoleSize, in characters."""

    height: int
    width: int


class Scheduler(Record):
    """config.md#linux-process ``scheduler``: the attributes sched_setattr(2) takes."""

    policy: str
    nice: int = 0
    priority: int = 0
    flags: tuple[str, ...] = ()
    runtime: int = 0
    deadline: int = 0
    period: int = 0


class IOPriority(Record):
    """config.md#linux-process ``ioPriority``: an ioprio_set(2) class and level (0 highest, 7 lowest)."""

    io_class: str
    priority: int


class CPUAffinity(Record):
    """config.md#linux-process ``execCPUAffinity``: CPU lists (``0-3,7``) for an ``exec``'d process
    before and after it joins the container's cgroup; empty: leave the affinity alone."""

    initial: str = ""
    final: str = ""


class Process(Record):
    """config.md#process: what runs in the container (also the ``exec --process`` document)."""

    args: tuple[str, ...]
    cwd: str
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = User()
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""
    scheduler: Scheduler | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: CPUAffinity | None = None


class Hook(Record):
    """config.md#posix-platform-hooks: one hook command (``timeout`` in seconds, None: no limit)."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class Namespace(Record):
    """config-linux.md#namespaces: a namespace to create (no ``path``) or to join (``path``)."""

    type: str
    path: str = ""


class Device(Record):
    """config-linux.md#devices: a device node to create in the container."""

    type: str
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class TimeOffset(Record):
    """config-linux.md#offset-for-time-namespace."""

    secs: int = 0
    nanosecs: int = 0


class Personality(Record):
    """config-linux.md#personality: execution domain (``LINUX`` or ``LINUX32``) and flags."""

    domain: str
    flags: tuple[str, ...] = ()


class MemoryPolicy(Record):
    """config-linux.md#memory-policy: the NUMA policy set_mempolicy(2) gives the container."""

    mode: str
    nodes: str = ""
    flags: tuple[str, ...] = ()


class Linux(Record):
    """config-linux.md: the ``linux`` object."""

    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    time_offsets: Mapping[str, TimeOffset] = _EMPTY
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = None
    resources: Mapping[str, Any] = _EMPTY
    rootfs_propagation: str = ""
    seccomp: Mapping[str, Any] | None = None
    sysctl: Mapping[str, str] = _EMPTY
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    mount_label: str = ""
    personality: Personality | None = None
    memory_policy: MemoryPolicy | None = None

    def namespace(self, ns_type: str) -> Namespace | None:
        """The configured namespace of ``ns_type``, or None when the container shares the runtime's."""
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


class RuntimeConfig(Record):
    """config.md: a whole ``config.json``."""

    oci_version: str
    root: Root
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: Mapping[str, tuple[Hook, ...]] = _EMPTY
    annotations: Mapping[str, str] = _EMPTY
    linux: Linux = Linux()


class _Obj:
    """A JSON object being read, with the dotted path used in error messages."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise InvalidArgument(f"{where or 'config'}: must be an object")
        self.data = data
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def require(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise InvalidArgument(f"{self.at(key)}: required field is missing")
        return self.data[key]

    def text(self, key: str, default: str = "", required: bool = False) -> str:
        value = self.require(key) if required else self.data.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidArgument(f"{self.at(key)}: must be a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise InvalidArgument(f"{self.at(key)}: must be a boolean")
        return value

    def number(self, key: str, default: int | None = None, required: bool = False) -> int | None:
        value = self.require(key) if required else self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{self.at(key)}: must be an integer")
        return value

    def uint(self, key: str, required: bool = False, bits: int = 32) -> int | None:
        value = self.number(key, required=required)
        if value is not None and not 0 <= value < (1 << bits):
            raise InvalidArgument(f"{self.at(key)}: must be between 0 and {(1 << bits) - 1}")
        return value

    def strs(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidArgument(f"{self.at(key)}: must be an array of strings")
        return tuple(value)

    def choice(self, key: str, allowed: Container[str], what: str) -> str:
        """A required string that must be one of ``allowed`` (an unknown ``what`` otherwise)."""
        value = self.text(key, required=True)
        if value not in allowed:
            raise InvalidArgument(f"{self.at(key)}: unknown {what} {value!r}")
        return value

    def choices(self, key: str, allowed: Container[str], what: str) -> tuple[str, ...]:
        """An array of strings, each one of ``allowed``."""
        values = self.strs(key)
        for value in values:
            if value not in allowed:
                raise InvalidArgument(f"{self.at(key)}: unknown {what} {value!r}")
        return values

    def objs(self, key: str) -> list[_Obj]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidArgument(f"{self.at(key)}: must be an array")
        return [_Obj(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]

    def obj(self, key: str) -> _Obj | None:
        value = self.data.get(key)
        return None if value is None else _Obj(value, self.at(key))

    def str_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidArgument(f"{self.at(key)}: must be an object of strings")
        return dict(value)


def _semver(version: str) -> tuple[int, int] | None:
    """(major, minor) of a SemVer 2.0 version such as ``1.0.2-dev`` or ``1.1.0+build``, else None."""
    core, plus, build = version.partition("+")
    core, dash, pre = core.partition("-")
    if (plus and not build) or (dash and not pre) or not set(build + pre) <= _SEMVER_EXTRA:
        return None
    numbers = core.split(".")
    if len(numbers) != 3 or not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    return int(numbers[0]), int(numbers[1])


def check_version(version: str) -> None:
    """Reject ``ociVersion`` values this runtime does not implement (config.md#specification-version)."""
    parsed = _semver(version)
    if parsed is None:
        raise InvalidArgument(f"ociVersion: {version!r} is not a SemVer version")
    major, minor = parsed
    if major != SUPPORTED_MAJOR:
        raise InvalidArgument(f"ociVersion: unsupported major version {major} (this runtime implements 1.x)")
    if minor > MAX_MINOR:
        raise InvalidArgument(
            f"ociVersion: unsupported version {version} (newest supported is 1.{MAX_MINOR})"
        )


def parse_config(data: Any) -> RuntimeConfig:
    """Validate a decoded ``config.json`` and return it as a ``RuntimeConfig``."""
    top = _Obj(data, "")
    version = top.text("ociVersion", required=True)
    check_version(version)
    root_obj = top.obj("root")
    if root_obj is None:
        raise InvalidArgument("root: required field is missing")
    root = Root(path=root_obj.text("path", required=True), readonly=root_obj.flag("readonly"))
    process_obj = top.obj("process")
    hooks_obj = top.obj("hooks")
    linux_obj = top.obj("linux")
    return RuntimeConfig(
        oci_version=version,
        root=root,
        process=None if process_obj is None else _process(process_obj),
        hostname=top.text("hostname"),
        domainname=top.text("domainname"),
        mounts=tuple(_mount(m) for m in top.objs("mounts")),
        hooks={} if hooks_obj is None else _hooks(hooks_obj),
        annotations=top.str_map("annotations"),
        linux=Linux() if linux_obj is None else _linux(linux_obj),
    )


def parse_process(data: Any, where: str = "process") -> Process:
    """Validate a decoded ``process`` object (config.md#process), as ``exec --process`` reads it."""
    return _process(_Obj(data, where))


def _absolute(obj: _Obj, key: str, value: str) -> str:
    if not value.startswith("/"):
        raise InvalidArgument(f"{obj.at(key)}: {value!r} must be an absolute path")
    return value


def _process(p: _Obj) -> Process:
    args = p.strs("args")
    if not args:
        raise InvalidArgument(f"{p.at('args')}: required field is missing or empty")
    cwd = _absolute(p, "cwd", p.text("cwd", required=True))
    for i, entry in enumerate(p.strs("env")):
        if "=" not in entry:
            raise InvalidArgument(f"{p.at('env')}[{i}]: {entry!r} is not KEY=VALUE")
    size_obj = p.obj("consoleSize")
    size = None
    if size_obj is not None:
        size = ConsoleSize(
            height=size_obj.uint("height", required=True) or 0,
            width=size_obj.uint("width", required=True) or 0,
        )
    caps_obj = p.obj("capabilities")
    scheduler, io_priority, affinity = p.obj("scheduler"), p.obj("ioPriority"), p.obj("execCPUAffinity")
    return Process(
        args=args,
        cwd=cwd,
        env=p.strs("env"),
        terminal=p.flag("terminal"),
        console_size=size,
        user=_user(p.obj("user")),
        capabilities=None if caps_obj is None else _capabilities(caps_obj),
        rlimits=tuple(_rlimit(r) for r in p.objs("rlimits")),
        no_new_privileges=p.flag("noNewPrivileges"),
        oom_score_adj=p.number("oomScoreAdj"),
        apparmor_profile=p.text("apparmorProfile"),
        selinux_label=p.text("selinuxLabel"),
        scheduler=None if scheduler is None else _scheduler(scheduler),
        io_priority=None if io_priority is None else _io_priority(io_priority),
        exec_cpu_affinity=None if affinity is None else _cpu_affinity(affinity),
    )


def _scheduler(s: _Obj) -> Scheduler:
    policy = s.choice("policy", SCHED_POLICIES, "scheduling policy")
    flags = s.choices("flags", SCHED_FLAGS, "scheduling flag")
    nice = s.number("nice", 0) or 0
    if not -20 <= nice <= 19:  # sched(7): nice values run from -20 to 19
        raise InvalidArgument(f"{s.at('nice')}: {nice} is not between -20 and 19")
    priority = s.number("priority", 0) or 0
    if not 0 <= priority <= 99:  # sched(7): static priorities are 0, or 1 to 99 for real time
        raise InvalidArgument(f"{s.at('priority')}: {priority} is not between 0 and 99")
    return Scheduler(
        policy=policy, nice=nice, priority=priority, flags=flags,
        runtime=s.uint("runtime", bits=64) or 0, deadline=s.uint("deadline", bits=64) or 0,
        period=s.uint("period", bits=64) or 0,
    )  # fmt: skip


def _io_priority(io: _Obj) -> IOPriority:
    io_class = io.choice("class", IOPRIO_CLASSES, "I/O priority class")
    priority = io.number("priority", required=True) or 0
    if not 0 <= priority <= 7:
        raise InvalidArgument(f"{io.at('priority')}: {priority} is not between 0 and 7")
    return IOPriority(io_class=io_class, priority=priority)


def _cpu_affinity(a: _Obj) -> CPUAffinity:
    lists = {}
    for key in ("initial", "final"):
        value = a.text(key)
        if value:
            parse_cpu_list(value, a.at(key))  # validated now, applied by ``exec``
        lists[key] = value
    return CPUAffinity(**lists)


def parse_cpu_list(text: str, where: str) -> set[int]:
    """CPU (or memory node) numbers from a list like ``0-3,7`` (the kernel's cpuset list format)."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        digits = first.isascii() and first.isdigit() and (not dash or (last.isascii() and last.isdigit()))
        if not digits or int(first) > int(last or first):
            raise InvalidArgument(f"{where}: {text!r} is not a list like 0-3,7")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _user(u: _Obj | None) -> User:
    if u is None:
        return User()
    gids = u.raw("additionalGids") or []
    if not isinstance(gids, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in gids):
        raise InvalidArgument(f"{u.at('additionalGids')}: must be an array of integers")
    return User(
        uid=u.uint("uid") or 0,
        gid=u.uint("gid") or 0,
        umask=u.uint("umask"),
        additional_gids=tuple(gids),
    )


def _capabilities(c: _Obj) -> Capabilities:
    sets = {}
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        caps = c.strs(name)
        for i, cap in enumerate(caps):
            if cap not in CAPABILITY_NAMES:
                raise InvalidArgument(f"{c.at(name)}[{i}]: invalid capability name {cap!r}")
        sets[name] = caps
    return Capabilities(**sets)


def _rlimit(r: _Obj) -> Rlimit:
    kind = r.choice("type", RLIMIT_TYPES, "rlimit type")
    return Rlimit(type=kind, soft=r.uint("soft", True, 64) or 0, hard=r.uint("hard", True, 64) or 0)


def _mapping(m: _Obj) -> IDMapping:
    return IDMapping(
        container_id=m.uint("containerID", required=True) or 0,
        host_id=m.uint("hostID", required=True) or 0,
        size=m.uint("size", required=True) or 0,
    )


def _mount(m: _Obj) -> Mount:
    dest = m.text("destination", required=True)
    if not dest:
        raise InvalidArgument(f"{m.at('destination')}: must not be empty")
    # config.md#mounts: destination SHOULD be absolute; runc accepts relative paths as under the root.
    if ".." in dest.split("/"):
        raise InvalidArgument(f"{m.at('destination')}: {dest!r} must not contain '..'")
    options = m.strs("options")
    mount_type = m.text("type")
    if not mount_type and not ({"bind", "rbind"} & set(options)):
        raise InvalidArgument(f"{m.at('type')}: required unless options include bind or rbind")
    uid_maps = tuple(_mapping(x) for x in m.objs("uidMappings"))
    gid_maps = tuple(_mapping(x) for x in m.objs("gidMappings"))
    if bool(uid_maps) != bool(gid_maps):  # config.md#mounts: "MUST be specified along with"
        raise InvalidArgument(f"{m.at('uidMappings')}: uidMappings and gidMappings go together")
    return Mount(
        destination=dest, type=mount_type, source=m.text("source"), options=options,
        uid_mappings=uid_maps, gid_mappings=gid_maps,
    )  # fmt: skip


def _hooks(h: _Obj) -> dict[str, tuple[Hook, ...]]:
    hooks: dict[str, tuple[Hook, ...]] = {}
    for name in HOOK_NAMES:
        entries = []
        for item in h.objs(name):
            timeout = item.number("timeout")
            if timeout is not None and timeout <= 0:
                raise InvalidArgument(f"{item.at('timeout')}: must be greater than zero")
            path = _absolute(item, "path", item.text("path", required=True))
            entries.append(Hook(path=path, args=item.strs("args"), env=item.strs("env"), timeout=timeout))
        if entries:
            hooks[name] = tuple(entries)
    return hooks


def _namespace(n: _Obj) -> Namespace:
    kind = n.choice("type", NAMESPACE_TYPES, "namespace type")
    return Namespace(type=kind, path=n.text("path"))


def _device(d: _Obj) -> Device:
    kind = d.text("type", required=True)
    if kind not in DEVICE_TYPES:
        raise InvalidArgument(f"{d.at('type')}: unknown device type {kind!r}")
    path = _absolute(d, "path", d.text("path", required=True))
    needs_numbers = kind != "p"
    return Device(
        type=kind,
        path=path,
        major=d.number("major", required=needs_numbers) or 0,
        minor=d.number("minor", required=needs_numbers) or 0,
        file_mode=d.uint("fileMode"),
        uid=d.uint("uid"),
        gid=d.uint("gid"),
    )


def _linux(lx: _Obj) -> Linux:
    namespaces = tuple(_namespace(n) for n in lx.objs("namespaces"))
    seen: set[str] = set()
    for i, ns in enumerate(namespaces):
        if ns.type in seen:
            raise InvalidArgument(f"linux.namespaces[{i}]: duplicate namespace type {ns.type!r}")
        seen.add(ns.type)
    uid_maps = tuple(_mapping(m) for m in lx.objs("uidMappings"))
    gid_maps = tuple(_mapping(m) for m in lx.objs("gidMappings"))
    if (uid_maps or gid_maps) and "user" not in seen:
        raise InvalidArgument("linux.uidMappings: mappings need a user namespace in linux.namespaces")
    offsets: dict[str, TimeOffset] = {}
    offsets_obj = lx.obj("timeOffsets")
    if offsets_obj is not None:
        for clock in offsets_obj.data:
            if clock not in ("monotonic", "boottime"):
                raise InvalidArgument(f"linux.timeOffsets.{clock}: unknown clock")
            o = _Obj(offsets_obj.data[clock], offsets_obj.at(clock))
            offsets[clock] = TimeOffset(secs=o.number("secs") or 0, nanosecs=o.uint("nanosecs") or 0)
    propagation = lx.text("rootfsPropagation")
    if propagation and propagation not in ROOTFS_PROPAGATIONS:
        raise InvalidArgument(f"linux.rootfsPropagation: unknown propagation {propagation!r}")
    resources = lx.obj("resources")
    seccomp = lx.obj("seccomp")
    if seccomp is not None:
        seccomp.text("defaultAction", required=True)
    personality_obj = lx.obj("personality")
    personality = None
    if personality_obj is not None:
        domain = personality_obj.choice("domain", ("LINUX", "LINUX32"), "domain")
        personality = Personality(domain=domain, flags=personality_obj.strs("flags"))
    policy = lx.obj("memoryPolicy")
    cgroups_path = lx.raw("cgroupsPath")
    if cgroups_path is not None and not isinstance(cgroups_path, str):
        raise InvalidArgument("linux.cgroupsPath: must be a string")
    return Linux(
        namespaces=namespaces,
        uid_mappings=uid_maps,
        gid_mappings=gid_maps,
        time_offsets=offsets,
        devices=tuple(_device(d) for d in lx.objs("devices")),
        cgroups_path=cgroups_path or None,
        resources={} if resources is None else dict(resources.data),
        rootfs_propagation=propagation,
        seccomp=None if seccomp is None else dict(seccomp.data),
        sysctl=lx.str_map("sysctl"),
        masked_paths=lx.strs("maskedPaths"),
        readonly_paths=lx.strs("readonlyPaths"),
        mount_label=lx.text("mountLabel"),
        personality=personality,
        memory_policy=None if policy is None else _memory_policy(policy),
    )


def _memory_policy(m: _Obj) -> MemoryPolicy:
    mode = m.choice("mode", MPOL_MODES, "memory policy mode")
    flags = m.choices("flags", MPOL_FLAGS, "memory policy flag")
    nodes = m.text("nodes")
    if nodes:
        parse_cpu_list(nodes, m.at("nodes"))  # the same list format as cpusets
    return MemoryPolicy(mode=mode, nodes=nodes, flags=flags)
