"""NRI plugins' adjustments of a container being created, and their updates of existing ones, as
edits of the containers' OCI configuration (containerd/nri pkg/api: ContainerAdjustment,
ContainerUpdate; containerd applies them to the spec it generated, and so does Berth, to the
bundle's config.json before anything runs).

The replies of CreateContainer are merged in the plugins' order. Each entry of a keyed field (an
annotation, a mount by destination, an environment variable, a device by path, an rlimit by type,
a hugepage size, a unified key, a sysctl) and each single field (args, a memory or CPU value, the
OOM score) belongs to the plugin that set it: a second plugin setting it is a conflict that fails
the creation, unless it removed it first (a key, destination or path prefixed with "-", NRI's
MarkForRemoval). Args whose first element is "" replace the command without a conflict (NRI's
UpdateArgs). Hooks are appended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.cri.nri.adaptation import HookFailed
from berth.cri.proto import nri_pb2

_REMOVED = "-"  # pkg/api MarkForRemoval's prefix
#: nri.proto Hooks' fields and the OCI hook kinds they are (runtime-spec config.md#posix-platform-hooks).
_HOOK_KINDS = {
    "prestart": "prestart",
    "create_runtime": "createRuntime",
    "create_container": "createContainer",
    "start_container": "startContainer",
    "poststart": "poststart",
    "poststop": "poststop",
}
#: nri.proto LinuxMemory and LinuxCPU fields and their OCI names (config-linux.md#memory, #cpu).
_MEMORY = {
    "limit": "limit",
    "reservation": "reservation",
    "swap": "swap",
    "kernel": "kernel",
    "kernel_tcp": "kernelTCP",
    "swappiness": "swappiness",
    "disable_oom_killer": "disableOOMKiller",
    "use_hierarchy": "useHierarchy",
}
_CPU = {
    "shares": "shares",
    "quota": "quota",
    "period": "period",
    "realtime_runtime": "realtimeRuntime",
    "realtime_period": "realtimePeriod",
}
#: Adjustments Berth does not apply, refused by name rather than silently dropped.
_NOT_APPLIED = ("io_priority", "seccomp_policy", "scheduler", "rdt", "memory_policy")


@dataclass
class Adjustment:
    """The merged adjustment: per keyed field, each key's new value (None: removed)."""

    annotations: dict[str, str | None] = field(default_factory=dict)
    mounts: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)
    devices: dict[str, nri_pb2.LinuxDevice | None] = field(default_factory=dict)
    rlimits: dict[str, dict[str, Any]] = field(default_factory=dict)
    sysctl: dict[str, str | None] = field(default_factory=dict)
    #: OCI linux.resources values by path (("memory", "limit"), ("hugepageLimits", "2MB")...)
    resources: dict[tuple[str, str], Any] = field(default_factory=dict)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    args: list[str] | None = None
    oom_score_adj: int | None = None
    _owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def _claim(self, plugin: str, what: str, key: str) -> None:
        owner = self._owners.setdefault((what, key), plugin)
        if owner != plugin:
            raise HookFailed(f"NRI plugins {owner} and {plugin} both adjust {what} {key!r}")

    def _keyed(self, plugin: str, what: str, entries: dict[str, Any], key: str, value: Any) -> None:
        """Set (or, for a "-"-prefixed key, remove) one entry of a keyed field for ``plugin``."""
        if key.startswith(_REMOVED):
            key = key[len(_REMOVED) :]
            self._owners.pop((what, key), None)  # removed: the next plugin may set it
            entries[key] = None
            return
        self._claim(plugin, what, key)
        entries[key] = value

    def add(self, plugin: str, adjust: nri_pb2.ContainerAdjustment) -> None:
        """Merge ``plugin``'s adjustment after the earlier plugins'; ``HookFailed`` names a conflict
        or what Berth cannot apply."""
        linux = adjust.linux
        refused = [name for name in _NOT_APPLIED if linux.HasField(name)]
        refused += ["namespaces"] * bool(linux.namespaces) + ["net_devices"] * bool(linux.net_devices)
        refused += ["CDI devices"] * bool(adjust.CDI_devices) + ["cgroups_path"] * bool(linux.cgroups_path)
        res = linux.resources
        refused += [f"resources.{n}" for n in ("blockio_class", "rdt_class") if res.HasField(n)]
        refused += ["resources.devices"] * bool(res.devices)
        if refused:
            raise HookFailed(f"NRI plugin {plugin}: Berth does not apply {', '.join(refused)} adjustments")
        for key, value in adjust.annotations.items():
            self._keyed(plugin, "annotation", self.annotations, key, value)
        for mount in adjust.mounts:
            oci = {"destination": mount.destination, "type": mount.type or "bind", "source": mount.source}
            self._keyed(
                plugin, "mount", self.mounts, mount.destination, {**oci, "options": list(mount.options)}
            )
        for pair in adjust.env:
            self._keyed(plugin, "env", self.env, pair.key, pair.value)
        for device in linux.devices:
            self._keyed(plugin, "device", self.devices, device.path, device)
        for limit in adjust.rlimits:
            self._claim(plugin, "rlimit", limit.type)
            self.rlimits[limit.type] = {"type": limit.type, "hard": limit.hard, "soft": limit.soft}
        for key, value in linux.sysctl.items():
            self._keyed(plugin, "sysctl", self.sysctl, key, value)
        for path, value in resource_values(res).items():
            self._claim(plugin, "resource", ".".join(path))
            self.resources[path] = value
        for name, kind in _HOOK_KINDS.items():
            for hook in getattr(adjust.hooks, name):
                self.hooks.setdefault(kind, []).append(_oci_hook(hook))
        if adjust.args:
            if adjust.args[0] != "":  # "" first: replace without claiming (UpdateArgs)
                self._claim(plugin, "args", "")
            self.args = [a for a in adjust.args if a] if adjust.args[0] == "" else list(adjust.args)
        if linux.HasField("oom_score_adj"):
            self._claim(plugin, "oom_score_adj", "")
            self.oom_score_adj = linux.oom_score_adj.value

    def apply(self, spec: dict[str, Any]) -> None:
        """Edit the OCI configuration ``spec`` (config.json) in place."""
        process = spec.setdefault("process", {})
        linux = spec.setdefault("linux", {})
        _set_keyed(spec.setdefault("annotations", {}), self.annotations)
        _set_keyed(linux.setdefault("sysctl", {}), self.sysctl)
        for destination, mount in self.mounts.items():
            spec["mounts"] = [m for m in spec.get("mounts", []) if m.get("destination") != destination]
            if mount is not None:
                spec["mounts"].append(mount)
        env = dict(entry.partition("=")[::2] for entry in process.get("env", []))
        _set_keyed(env, self.env)
        process["env"] = [f"{k}={v}" for k, v in env.items()]
        if self.args is not None:
            process["args"] = self.args
        if self.oom_score_adj is not None:
            process["oomScoreAdj"] = self.oom_score_adj
        if self.rlimits:
            kept = [r for r in process.get("rlimits", []) if r.get("type") not in self.rlimits]
            process["rlimits"] = kept + list(self.rlimits.values())
        for kind, hooks in self.hooks.items():
            spec.setdefault("hooks", {}).setdefault(kind, []).extend(hooks)
        for path, device in self.devices.items():
            _set_device(linux, path, device)
        merge_resources(linux.setdefault("resources", {}), self.resources)


def resource_values(res: nri_pb2.LinuxResources) -> dict[tuple[str, str], Any]:
    """The values ``res`` sets, by their path in OCI ``linux.resources``."""
    values: dict[tuple[str, str], Any] = {}
    for group, names, message in (("memory", _MEMORY, res.memory), ("cpu", _CPU, res.cpu)):
        for name, oci in names.items():
            if message.HasField(name):
                values[(group, oci)] = getattr(message, name).value
    for name in ("cpus", "mems"):
        if getattr(res.cpu, name):
            values[("cpu", name)] = getattr(res.cpu, name)
    if res.HasField("pids"):
        values[("pids", "limit")] = res.pids.limit
    for hugepage in res.hugepage_limits:
        values[("hugepageLimits", hugepage.page_size)] = hugepage.limit
    for key, value in res.unified.items():
        values[("unified", key)] = value
    return values


def merge_resources(oci: dict[str, Any], values: dict[tuple[str, str], Any]) -> None:
    """Set ``values`` (``resource_values``' form) in the OCI ``linux.resources`` ``oci``."""
    for (group, name), value in values.items():
        if group == "hugepageLimits":
            limits = [h for h in oci.get(group, []) if h.get("pageSize") != name]
            oci[group] = [*limits, {"pageSize": name, "limit": value}]
        else:
            oci.setdefault(group, {})[name] = value


def _set_keyed(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _set_device(linux: dict[str, Any], path: str, device: nri_pb2.LinuxDevice | None) -> None:
    """Add the device node (and its cgroup rule, config-linux.md#allowed-device-list), or remove
    the node at ``path``."""
    linux["devices"] = [d for d in linux.get("devices", []) if d.get("path") != path]
    if device is None:
        return
    node: dict[str, Any] = {"path": path, "type": device.type, "major": device.major, "minor": device.minor}
    for name, oci in (("file_mode", "fileMode"), ("uid", "uid"), ("gid", "gid")):
        if device.HasField(name):
            node[oci] = getattr(device, name).value
    linux["devices"].append(node)
    rule = {"allow": True, "type": device.type, "major": device.major, "minor": device.minor, "access": "rwm"}
    linux.setdefault("resources", {}).setdefault("devices", []).append(rule)


def _oci_hook(hook: nri_pb2.Hook) -> dict[str, Any]:
    oci: dict[str, Any] = {"path": hook.path}
    if hook.args:
        oci["args"] = list(hook.args)
    if hook.env:
        oci["env"] = list(hook.env)
    if hook.HasField("timeout"):
        oci["timeout"] = hook.timeout.value
    return oci
