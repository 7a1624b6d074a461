"""Invoking CNI plugins per the CNI specification (SPEC.md, version 1.0.0).

A plugin is an executable found by its ``type`` in the plugin directories (``CNI_PATH``). It reads
one network configuration on stdin and the ``CNI_*`` variables from its environment, and writes a
result (or an error object) on stdout. A network configuration list runs its plugins in order for
ADD and CHECK, each given the previous result (CHECK: the cached one) as ``prevResult``, and in
reverse order for DEL with the cached ADD result (SPEC.md, section 4, "Network configuration list
runtime semantics"). Plugins that declare a capability receive the matching ``runtimeConfig`` entry
(CONVENTIONS.md, "Dynamic plugin-specific fields").
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

from berth.errors import BerthError
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

CNI_VERSION = "1.0.0"


class CNIError(BerthError):
    """A plugin failed; the message carries the plugin's own error object."""


@record(frozen=True)
class RuntimeConf:
    """The runtime's side of one attachment (SPEC.md section 3, "Parameters"): the container, its
    network namespace path and interface name, the plugin directories (``CNI_PATH``), and the
    ``runtimeConfig`` values plugins receive for the capabilities they declare."""

    container_id: str
    netns: str
    ifname: str
    dirs: tuple[str, ...]
    capability_args: dict[str, Any] = field(default_factory=dict)


def find_plugin(kind: str, dirs: tuple[str, ...]) -> str:
    """The executable for plugin ``kind`` in the first of ``dirs`` that has it."""
    for d in dirs:
        path = os.path.join(d, kind)
        if os.access(path, os.X_OK):
            return path
    raise CNIError(f"CNI plugin {kind!r} not found in {':'.join(dirs)}")


def _invoke(kind: str, command: str, conf: dict[str, Any], rt: RuntimeConf) -> dict[str, Any] | None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": rt.container_id,
        "CNI_NETNS": rt.netns,
        "CNI_IFNAME": rt.ifname,
        "CNI_PATH": os.pathsep.join(rt.dirs),
    }
    proc = subprocess.run(
        [find_plugin(kind, rt.dirs)], input=json.dumps(conf).encode(), capture_output=True, env=env
    )
    out = proc.stdout.strip()
    if proc.returncode != 0:
        try:
            error = json.loads(out)
            message = error.get("msg", "") + (f": {error['details']}" if error.get("details") else "")
        except (ValueError, AttributeError):
            message = (out or proc.stderr).decode(errors="replace").strip()
        raise CNIError(f"CNI plugin {kind} {command} failed: {message or f'exit status {proc.returncode}'}")
    if command != "ADD":
        return None
    result: dict[str, Any] = json.loads(out)
    return result


def _plugin_conf(
    conflist: dict[str, Any], plugin: dict[str, Any], prev: dict[str, Any] | None, runtime: dict[str, Any]
) -> dict[str, Any]:
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist.get("cniVersion", CNI_VERSION)
    if prev is not None:
        conf["prevResult"] = prev
    wanted = {k: v for k, v in runtime.items() if plugin.get("capabilities", {}).get(k)}
    if wanted:
        conf["runtimeConfig"] = wanted
    return conf


def add_network(conflist: dict[str, Any], rt: RuntimeConf) -> dict[str, Any]:
    """Run ADD through every plugin of ``conflist``; return the final result (to cache for DEL).

    If a plugin fails, the plugins already run are undone with DEL before the error is raised.
    """
    prev: dict[str, Any] | None = None
    done: list[dict[str, Any]] = []
    for plugin in conflist["plugins"]:
        conf = _plugin_conf(conflist, plugin, prev, rt.capability_args)
        try:
            prev = _invoke(plugin["type"], "ADD", conf, rt)
        except CNIError:
            for undo in reversed(done):
                with contextlib.suppress(CNIError):
                    _invoke(undo["type"], "DEL", _plugin_conf(conflist, undo, prev, rt.capability_args), rt)
            raise
        done.append(plugin)
    return prev or {}


def del_network(conflist: dict[str, Any], rt: RuntimeConf, prev_result: dict[str, Any] | None) -> None:
    """Run DEL through the plugins in reverse order; every plugin runs even if one fails."""
    errors = []
    for plugin in reversed(conflist["plugins"]):
        conf = _plugin_conf(conflist, plugin, prev_result, rt.capability_args)
        try:
            _invoke(plugin["type"], "DEL", conf, rt)
        except CNIError as err:
            errors.append(str(err))
    if errors:
        raise CNIError(errors[0])


def check_network(conflist: dict[str, Any], rt: RuntimeConf, prev_result: dict[str, Any]) -> None:
    """Run CHECK through the plugins (in order, SPEC.md); raises ``CNIError`` on the first problem."""
    for plugin in conflist["plugins"]:
        conf = _plugin_conf(conflist, plugin, prev_result, rt.capability_args)
        _invoke(plugin["type"], "CHECK", conf, rt)


def result_addresses(result: dict[str, Any]) -> list[str]:
    """The CIDR addresses a result assigned to the container's interfaces (SPEC.md#ips)."""
    return [ip["address"] for ip in result.get("ips", [])]


def read_conflist(path: Path) -> dict[str, Any]:
    """Load a network configuration list file."""
    try:
        conflist: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CNIError(f"cannot read network configuration {path}: {err}") from None
    return conflist
