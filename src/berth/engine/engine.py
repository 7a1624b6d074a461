"""The engine's handle: configuration, the metadata database, and per-container paths.

Every ``berth`` command makes one ``Engine``, acts through the functions of the engine modules
(``containers.start``, ``containers.inspect``, ``networks.bridge``...), and closes it. The database
connection is opened on first use and must be closed before the process forks a monitor.
"""

from __future__ import annotations

import os
from pathlib import Path

from berth.engine.config import EngineConfig
from berth.engine.metadata import Metadata
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.engine.metadata import ContainerRecord
    from berth.engine.runtime import OCIRuntime


@record(frozen=True)
class ContainerPaths:
    """Where one container's files live.

    ``userdata`` (storage root) holds what must survive a reboot: the bundle's ``config.json``, the
    log, the generated ``/etc`` files. ``rundir`` (run root) holds what a reboot should forget: the
    runtime pid file, the monitor's attach socket and exit file, the network namespace, the rootfs
    mount point.
    """

    userdata: Path
    rundir: Path

    @property
    def bundle(self) -> Path:
        """The OCI bundle directory (runtime-spec bundle.md)."""
        return self.userdata

    @property
    def config_json(self) -> Path:
        """The runtime configuration."""
        return self.userdata / "config.json"

    @property
    def log(self) -> Path:
        """The CRI-format log of the container's output."""
        return self.userdata / "ctr.log"

    @property
    def netns(self) -> Path:
        """The pinned network namespace file."""
        return self.rundir / "netns"

    @property
    def attach_socket(self) -> Path:
        """The monitor's socket."""
        return self.rundir / "attach"

    @property
    def exit_file(self) -> Path:
        """Written by the monitor with the exit code."""
        return self.rundir / "exit"

    @property
    def lock(self) -> Path:
        """Serializes lifecycle operations on this container across commands."""
        return self.userdata.parent / f"{self.userdata.name}.lock"


class Engine:
    """One command's view of the engine."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._db: Metadata | None = None
        self._runtimes: dict[str, OCIRuntime] = {}

    @property
    def db(self) -> Metadata:
        """The metadata database, opened on first use."""
        if self._db is None:
            self._db = Metadata(self.config.db_path)
        return self._db

    def close(self) -> None:
        """Close the database (reopened on next use)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runtime(self, name: str = "") -> OCIRuntime:
        """The driver for runtime ``name`` (the configured default when empty)."""
        from berth.engine.runtime import open_runtime  # subprocess is not needed by read-only commands

        name = name or self.config.runtime
        if name not in self._runtimes:
            self._runtimes[name] = open_runtime(name, self.config.runtimes, self.config.runtime_root)
        return self._runtimes[name]

    def paths(self, cid: str) -> ContainerPaths:
        """The directories of container ``cid``."""
        return ContainerPaths(self.config.containers_dir / cid, self.config.run_containers_dir / cid)


def new_id() -> str:
    """A new 64-hex-digit object id (256 random bits, as podman's ids)."""
    return os.urandom(32).hex()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"


def cgroup_path(engine_cgroup_parent: str, cid: str) -> str:
    """The container's ``linux.cgroupsPath``: flat ``/berth-<id>`` or under the configured parent."""
    leaf = f"berth-{cid}"
    return os.path.join("/", engine_cgroup_parent.strip("/"), leaf) if engine_cgroup_parent else f"/{leaf}"


def container_cgroup_path(engine_cgroup_parent: str, record: ContainerRecord) -> str:
    """The ``linux.cgroupsPath`` container ``record`` was given: under its own cgroup parent (a
    pod's, or ``--cgroup-parent``) if it has one, else under the engine's."""
    parent = record.config.get("options", {}).get("cgroup_parent") or engine_cgroup_parent
    return cgroup_path(parent, record.id)
