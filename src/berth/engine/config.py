"""Where the engine keeps its state, and which runtime it drives.

Precedence, lowest first: built-in defaults, ``/etc/berth/berth.toml`` (or the file named by
``BERTH_CONFIG``), the environment (``BERTH_ROOT``, ``BERTH_RUNROOT``, ``BERTH_RUNTIME``), then flags.
The file's layout::

    [storage]
    root = "/var/lib/berth"
    runroot = "/run/berth"

    [engine]
    runtime = "berth-runtime"
    cgroup_parent = ""            # "" puts each container at the top of each hierarchy

    [engine.runtimes]             # extra runtime names -> binaries
    myruntime = "/usr/local/bin/myruntime"

    [network]
    default_network = "berth0"    # also the default bridge device's name (at most 15 characters)
    default_subnet = "10.77.0.0/24"
    cni_plugin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]

    [admission]                   # rule sets every container made from an image must pass
    policies = ["/etc/berth/policy.d"]   # directories of .rego files (docs/inventory.md#admission)
    db = ""                       # OSV records for input.findings (a directory, zip or tar)
"""

from __future__ import annotations

import os
from pathlib import Path

from berth.errors import InvalidArgument
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = Path("/var/lib/berth")
DEFAULT_RUNROOT = Path("/run/berth")
DEFAULT_CONFIG_FILE = Path("/etc/berth/berth.toml")
DEFAULT_RUNTIME = "berth-runtime"
DEFAULT_NETWORK = "berth0"
DEFAULT_SUBNET = "10.77.0.0/24"
DEFAULT_CNI_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


@record(frozen=True)
class EngineConfig:
    """Resolved engine settings; every path is absolute."""

    root: Path = DEFAULT_ROOT
    runroot: Path = DEFAULT_RUNROOT
    runtime: str = DEFAULT_RUNTIME
    runtimes: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    default_network: str = DEFAULT_NETWORK
    default_subnet: str = DEFAULT_SUBNET
    cni_plugin_dirs: tuple[str, ...] = DEFAULT_CNI_DIRS
    #: ``[admission] policies``: directories of Rego rule sets judging each new container (none: off)
    admission_policies: tuple[str, ...] = ()
    #: ``[admission] db``: OSV records whose findings the rules see ("" : no findings)
    admission_db: str = ""

    @property
    def db_path(self) -> Path:
        """The metadata database (containers, volumes, networks)."""
        return self.root / "berth.db"

    @property
    def volumes_dir(self) -> Path:
        """Where named volumes keep their data, one directory each."""
        return self.root / "volumes"

    @property
    def networks_dir(self) -> Path:
        """Where each network's CNI configuration list is stored."""
        return self.root / "networks"

    @property
    def containers_dir(self) -> Path:
        """Persistent per-container directories (logs, generated config)."""
        return self.root / "containers"

    @property
    def run_containers_dir(self) -> Path:
        """Volatile per-container directories (bundle, sockets, netns, exit file)."""
        return self.runroot / "containers"

    @property
    def runtime_root(self) -> Path:
        """The ``--root`` given to the OCI runtime, so its state lives under Berth's run root."""
        return self.runroot / "runtime"


def _read_file(path: Path) -> dict[str, Any]:
    from berth import tomlcache

    try:
        return tomlcache.load(path)
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise InvalidArgument(f"cannot read configuration file {path}: {err.strerror}") from None
    except ValueError as err:  # tomllib.TOMLDecodeError, UnicodeDecodeError
        raise InvalidArgument(f"invalid configuration file {path}: {err}") from None


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid configuration file {path}: [{name}] must be a table")
    return value


def _string(table: dict[str, Any], key: str, default: str, path: Path) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid configuration file {path}: {key} must be a string")
    return value


def _paths(table: dict[str, Any], key: str, default: list[str], path: Path) -> list[str]:
    value = table.get(key, default)
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise InvalidArgument(f"invalid configuration file {path}: {key} must be a list of paths")
    return value


def load_config(
    root: str | None = None,
    runroot: str | None = None,
    runtime: str | None = None,
    config_file: str | None = None,
) -> EngineConfig:
    """Resolve the configuration: defaults, then the TOML file, then the environment, then arguments."""
    path = Path(config_file or os.environ.get("BERTH_CONFIG") or DEFAULT_CONFIG_FILE)
    data = _read_file(path)
    storage = _table(data, "storage", path)
    engine = _table(data, "engine", path)
    network = _table(data, "network", path)
    runtimes = _table(engine, "runtimes", path)
    if not all(isinstance(v, str) for v in runtimes.values()):
        raise InvalidArgument(f"invalid configuration file {path}: [engine.runtimes] values must be paths")
    dirs = _paths(network, "cni_plugin_dirs", list(DEFAULT_CNI_DIRS), path)
    admission = _table(data, "admission", path)
    policies = _paths(admission, "policies", [], path)
    chosen_root = root or os.environ.get("BERTH_ROOT") or _string(storage, "root", str(DEFAULT_ROOT), path)
    chosen_runroot = (
        runroot or os.environ.get("BERTH_RUNROOT") or _string(storage, "runroot", str(DEFAULT_RUNROOT), path)
    )
    chosen_runtime = (
        runtime or os.environ.get("BERTH_RUNTIME") or _string(engine, "runtime", DEFAULT_RUNTIME, path)
    )
    return EngineConfig(
        root=Path(chosen_root).absolute(),
        runroot=Path(chosen_runroot).absolute(),
        runtime=chosen_runtime,
        runtimes=dict(runtimes),
        cgroup_parent=_string(engine, "cgroup_parent", "", path),
        default_network=_string(network, "default_network", DEFAULT_NETWORK, path),
        default_subnet=_string(network, "default_subnet", DEFAULT_SUBNET, path),
        cni_plugin_dirs=tuple(dirs),
        admission_policies=tuple(policies),
        admission_db=_string(admission, "db", "", path),
    )
