"""The runtime configuration (``config.json``, runtime-spec config.md) of a new container.

Built in the order image-spec conversion.md gives: the image config's Env, Entrypoint, Cmd,
WorkingDir, User (resolved in the image's own passwd and group files), then the user's flags on top.
Defaults (mounts, masked paths, capabilities, seccomp, rlimits) follow podman's.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
from pathlib import Path

from berth.engine.containers.seccomp import default_seccomp, load_seccomp
from berth.engine.containers.security import capabilities
from berth.engine.containers.users import resolve_groups, resolve_user
from berth.engine.images.store import ImageSettings
from berth.engine.options import CreateOptions, id_mappings, merge_env, parse_env, parse_tmpfs
from berth.engine.units import parse_cpus, parse_size
from berth.errors import InvalidArgument
from berth.fsutil import atomic_write

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.engine import ContainerPaths

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000
#: podman's default RLIMIT_NOFILE, lowered to the hard limit the engine itself has (raising a hard
#: limit needs CAP_SYS_RESOURCE).
NOFILE = 1_048_576

# runtime-spec config-linux.md#masked-paths and #readonly-paths: podman's defaults.
MASKED_PATHS = (
    *("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list"),
    *("/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux"),
    "/sys/dev/block",
)
#: A cpuset list (cpuset(7) "List format"): ``0-2,4``.
_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
#: Where ``--init``'s init is mounted in the container, and the hosts' paths it is looked for at
#: (Debian's catatonit package; podman's own copy).
INIT_PATH = "/run/berth-init"
_INIT_BINARIES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")

READONLY_PATHS = ("/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def process_args(opts: CreateOptions, image: ImageSettings) -> list[str]:
    """Entrypoint + Cmd per conversion.md: ``--entrypoint`` replaces both image values."""
    if opts.entrypoint is not None:
        args = [*opts.entrypoint, *opts.command]
    else:
        args = [*image.entrypoint, *(opts.command or image.cmd)]
    if not args:
        raise InvalidArgument("no command specified: the image has no Entrypoint or Cmd and none was given")
    return args


def _default_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]


def _security_options(opts: CreateOptions) -> tuple[bool, str]:
    no_new_privileges, seccomp = False, ""
    for opt in opts.security_opt:
        key, _, value = opt.partition("=")
        if key in ("no-new-privileges", "no_new_privileges") and value in ("", "true"):
            no_new_privileges = True
        elif key == "no-new-privileges" and value == "false":
            no_new_privileges = False
        elif key == "seccomp" and value:
            seccomp = value
        else:
            raise InvalidArgument(
                f"invalid --security-opt {opt!r}: want seccomp=PROFILE|unconfined or no-new-privileges"
            )
    return no_new_privileges, seccomp


def _memory(opts: CreateOptions) -> dict[str, Any]:
    """``linux.resources.memory`` (config-linux.md#memory); ``swap`` is memory plus swap."""
    memory: dict[str, Any] = {}
    if opts.memory:
        limit = parse_size(opts.memory, "--memory")
        if limit < 6 * 1024 * 1024:
            raise InvalidArgument(f"invalid --memory {opts.memory!r}: the minimum is 6m")
        # Swap equal to the limit unless told: the container gets no swap, so the limit is the limit.
        memory = {"limit": limit, "swap": limit}
    if opts.memory_swap:
        if not opts.memory:
            raise InvalidArgument("--memory-swap needs --memory: it is the memory limit plus swap")
        swap = -1 if opts.memory_swap == "-1" else parse_size(opts.memory_swap, "--memory-swap")
        if swap != -1 and swap < memory["limit"]:
            raise InvalidArgument(f"invalid --memory-swap {opts.memory_swap!r}: less than --memory")
        memory["swap"] = swap
    if opts.memory_swappiness is not None:
        if not 0 <= opts.memory_swappiness <= 100:
            raise InvalidArgument(f"invalid --memory-swappiness {opts.memory_swappiness}: want 0 to 100")
        memory["swappiness"] = opts.memory_swappiness
    return memory


def _cpu(opts: CreateOptions) -> dict[str, Any]:
    """``linux.resources.cpu`` (config-linux.md#cpu)."""
    cpu: dict[str, Any] = {}
    if opts.cpus:
        cpu = {"quota": int(parse_cpus(opts.cpus) * CPU_PERIOD), "period": CPU_PERIOD}
    for number, key, flag in (
        (opts.cpu_shares, "shares", "--cpu-shares"),
        (opts.cpu_rt_period, "realtimePeriod", "--cpu-rt-period"),
        (opts.cpu_rt_runtime, "realtimeRuntime", "--cpu-rt-runtime"),
    ):
        if number < 0:
            raise InvalidArgument(f"invalid {flag} {number}")
        if number:
            cpu[key] = number
    for value, key, flag in (
        (opts.cpuset_cpus, "cpus", "--cpuset-cpus"),
        (opts.cpuset_mems, "mems", "--cpuset-mems"),
    ):
        if value and not _CPU_LIST.match(value):
            raise InvalidArgument(f"invalid {flag} {value!r}: want a list such as 0-2,4")
        if value:
            cpu[key] = value
    return cpu


def resources(opts: CreateOptions) -> dict[str, Any]:
    """``linux.resources`` (config-linux.md#control-groups) for the flags in ``opts``."""
    # config-linux.md#allowed-device-list: deny everything, the runtime adds its default devices.
    res: dict[str, Any] = {"devices": [{"allow": opts.privileged, "access": "rwm"}]}
    memory, cpu = _memory(opts), _cpu(opts)
    if memory:
        res["memory"] = memory
    if cpu:
        res["cpu"] = cpu
    if opts.pids_limit:
        if opts.pids_limit < 0 and opts.pids_limit != -1:
            raise InvalidArgument(f"invalid --pids-limit {opts.pids_limit}")
        res["pids"] = {"limit": opts.pids_limit}
    return res


def build_config(
    opts: CreateOptions,
    image: ImageSettings,
    rootfs: Path,
    cid: str,
    mounts: list[dict[str, Any]],
    netns: str | None,
    cgroups_path: str,
) -> dict[str, Any]:
    """The container's ``config.json``.

    ``mounts`` are the volume, bind, tmpfs and /etc file mounts the engine prepared; ``netns`` is the
    path of the network namespace to join, ``""`` for a new empty one, ``None`` for the host's.
    """
    user = resolve_user(rootfs, opts.user or image.user)
    # the CRI's SupplementalGroupsPolicy Strict: only the requested groups, not the image's memberships
    image_gids = [] if opts.strict_groups else list(user.additional_gids)
    extra_gids = [*image_gids, *resolve_groups(rootfs, opts.group_add)]
    env = merge_env([DEFAULT_PATH, *image.env], parse_env(opts.env, opts.env_files))
    for flag, mode in (("--pid", opts.pid), ("--uts", opts.uts), ("--ipc", opts.ipc)):
        if mode not in ("", "host"):
            raise InvalidArgument(
                f"invalid {flag} {mode!r}: want host (or nothing, for a namespace of its own)"
            )
    hostname = opts.hostname or (socket.gethostname() if opts.uts == "host" else cid[:12])
    env = merge_env(env, [f"HOSTNAME={hostname}", "container=berth", *(["TERM=xterm"] if opts.tty else [])])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    caps = capabilities(opts.cap_add, opts.cap_drop, opts.privileged)
    no_new_privileges, seccomp_opt = _security_options(opts)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = min(NOFILE, hard) if hard != resource.RLIM_INFINITY else NOFILE
    process: dict[str, Any] = {
        "terminal": opts.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": list(dict.fromkeys(extra_gids))},
        "args": [INIT_PATH, "--", *process_args(opts, image)] if opts.init else process_args(opts, image),
        "env": env,
        "cwd": opts.workdir or image.working_dir or "/",
        "capabilities": {
            "bounding": caps,
            "effective": caps if user.uid == 0 else [],
            "permitted": caps if user.uid == 0 else [],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": no_new_privileges,
    }
    if opts.oom_score_adj is not None:
        process["oomScoreAdj"] = opts.oom_score_adj  # config.md#process
    if not process["cwd"].startswith("/"):
        raise InvalidArgument(f"invalid working directory {process['cwd']!r}: not an absolute path")
    # config-linux.md#namespaces: a namespace left out is the host's.
    shared = {"pid": opts.pid, "ipc": opts.ipc, "uts": opts.uts}
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount") if shared.get(t) != "host"]
    if netns is not None:
        namespaces.append({"type": "network", **({"path": netns} if netns else {})})
    if opts.uidmap:
        namespaces.append({"type": "user"})
    all_mounts = _default_mounts()
    if opts.read_only:
        # podman's --read-only-tmpfs: the places programs expect to write stay writable.
        for dest in ("/tmp", "/var/tmp", "/run"):
            all_mounts.append(
                {
                    "destination": dest,
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["rw", "nosuid", "nodev"],
                }
            )
    for text in opts.tmpfs:
        dest, options = parse_tmpfs(text)
        all_mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
    all_mounts += mounts
    if opts.init:
        all_mounts.append(_init_mount())
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups_path,
        "resources": resources(opts),
    }
    idmaps = id_mappings(opts)
    if idmaps is not None:
        # config-linux.md#user-namespace-mappings
        linux["uidMappings"], linux["gidMappings"] = (
            [{"containerID": c, "hostID": h, "size": n} for c, h, n in maps] for maps in idmaps
        )
    if opts.sysctl:
        linux["sysctl"] = _sysctls(opts.sysctl)
    if opts.devices:
        linux["devices"], device_rules = _devices(opts.devices)
        linux["resources"]["devices"] += device_rules
    if any("rshared" in m.get("options", ()) for m in mounts):
        linux["rootfsPropagation"] = "rshared"  # a bidirectional bind needs its peers shared
    elif any("rslave" in m.get("options", ()) for m in mounts):
        linux["rootfsPropagation"] = "rslave"
    if not opts.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS if opts.masked_paths is None else opts.masked_paths)
        linux["readonlyPaths"] = list(READONLY_PATHS if opts.readonly_paths is None else opts.readonly_paths)
        if seccomp_opt != "unconfined":
            linux["seccomp"] = load_seccomp(seccomp_opt, caps) if seccomp_opt else default_seccomp(caps)
    elif seccomp_opt and seccomp_opt != "unconfined":
        linux["seccomp"] = load_seccomp(seccomp_opt, caps)
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": str(rootfs), "readonly": opts.read_only},
        # config.md#hostname: only with a UTS namespace of its own
        **({"hostname": hostname} if opts.uts != "host" else {}),
        "mounts": all_mounts,
        "linux": linux,
        "annotations": _annotations(opts, image),
    }


def _sysctls(entries: list[str]) -> dict[str, str]:
    """config-linux.md#sysctl from ``KEY=VALUE`` entries."""
    sysctls = {}
    for entry in entries:
        key, eq, value = entry.partition("=")
        if not key or not eq:
            raise InvalidArgument(f"invalid --sysctl {entry!r}: want KEY=VALUE")
        sysctls[key] = value
    return sysctls


def _devices(entries: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """config-linux.md#devices and the cgroup rules allowing them, for ``--device
    HOST[:CONTAINER[:PERMISSIONS]]`` (permissions: some of ``rwm``, all by default)."""
    import os
    import stat

    devices, rules = [], []
    for entry in entries:
        parts = entry.split(":")
        host = parts[0]
        inside = parts[1] if len(parts) > 1 and parts[1] else host
        access = parts[2] if len(parts) > 2 else "rwm"
        well_formed = len(parts) <= 3 and host.startswith("/") and inside.startswith("/")
        if not well_formed or set(access) - set("rwm"):
            raise InvalidArgument(f"invalid --device {entry!r}: want HOST[:CONTAINER[:PERMISSIONS]]")
        try:
            info = os.stat(host)
        except OSError as err:
            raise InvalidArgument(f"invalid --device {entry!r}: {err.strerror}") from None
        if not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
            raise InvalidArgument(f"invalid --device {entry!r}: {host} is not a device")
        kind = "c" if stat.S_ISCHR(info.st_mode) else "b"
        major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
        node = {"type": kind, "major": major, "minor": minor}
        owner = {"fileMode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}
        devices.append({"path": inside, **node, **owner})
        rules.append({"allow": True, **node, "access": access})
    return devices, rules


def _init_mount() -> dict[str, Any]:
    """The host's catatonit, bind-mounted read-only where ``--init`` runs it from."""
    found = next((path for path in _INIT_BINARIES if os.path.isfile(path)), None)
    if found is None:
        raise InvalidArgument(f"--init: no init binary on this host (looked for {', '.join(_INIT_BINARIES)})")
    return {
        "destination": INIT_PATH,
        "type": "bind",
        "source": found,
        "options": ["bind", "ro", "nosuid", "nodev"],
    }


def _annotations(opts: CreateOptions, image: ImageSettings) -> dict[str, str]:
    """config.md#annotations: the user's, and the image's stop signal under the image spec's key."""
    stop_signal = opts.stop_signal or image.stop_signal
    return {
        **({"org.opencontainers.image.stopSignal": stop_signal} if stop_signal else {}),
        **opts.annotations,
    }


def write_config(paths: ContainerPaths, config: dict[str, Any]) -> None:
    """Write the bundle's ``config.json``: compact (an indented dump takes json's pure-Python
    encoder, ~1 ms for this document), and without waiting for the disk, as podman writes it (a
    container does not outlive a reboot whole: its overlay root is not mounted again)."""
    atomic_write(paths.config_json, json.dumps(config, separators=(",", ":")).encode(), durable=False)
