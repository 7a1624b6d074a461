"""The pods' network from the CNI configuration directory (``cni_conf_dir``, the kubelet's net.d).

As libcni (and so containerd) picks it: the first file by name ending in ``.conflist``, ``.conf`` or
``.json``; a ``.conf`` holds one plugin's configuration, made a list of one. It becomes the engine
network ``cri-<its name>`` (``berth.engine.networks.bridge.import_network``), so sandboxes join it
through the engine as they join its own bridge; the file's plugins (bridge, host-local, portmap...
from ``cni_plugin_dirs``) decide the rest. Without ``cni_conf_dir`` pods use the engine's bridge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berth.cri.service import Services
from berth.engine.engine import Engine
from berth.errors import InvalidArgument, InvalidState

_SUFFIXES = (".conflist", ".conf", ".json")


def config_file(directory: str) -> Path | None:
    """The network configuration file libcni would take from ``directory``; None if none."""
    folder = Path(directory)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    return found[0] if found else None


def pod_network(services: Services, engine: Engine) -> str:
    """The engine network a new sandbox joins: the configuration directory's ("" without one set:
    the engine's bridge). ``InvalidState`` if the directory holds no configuration yet."""
    from berth.engine.networks.bridge import import_network

    directory = services.config.cni_conf_dir
    if not directory:
        return ""
    path = config_file(directory)
    if path is None:
        raise InvalidState(f"no CNI network configuration in {directory}")
    conflist = _conflist(path)
    name = f"cri-{conflist['name']}"
    import_network(engine.config, engine.db, name, conflist)
    return name


def _conflist(path: Path) -> dict[str, Any]:
    """The configuration list in ``path`` (a single plugin's configuration made a list of one)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"CNI configuration {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise InvalidArgument(f"CNI configuration {path}: no network name")
    if "plugins" in data:
        return data
    plugin = {k: v for k, v in data.items() if k not in ("cniVersion", "name")}
    return {"cniVersion": data.get("cniVersion", "1.0.0"), "name": data["name"], "plugins": [plugin]}
