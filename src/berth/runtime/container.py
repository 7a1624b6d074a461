"""A container's record in the runtime's state directory (runtime.md#state) and its status.

Layout: ``<root>/<id>/state.json`` (written atomically) and ``<root>/<id>/exec.fifo``, the FIFO the
init process blocks on between ``create`` and ``start`` (its presence means "created"), as runc does.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.fsutil import atomic_write

DEFAULT_ROOT = "/run/berth-runtime"
OCI_VERSION = "1.2.0"

CREATING, CREATED, RUNNING, STOPPED, PAUSED = "creating", "created", "running", "stopped", "paused"


def check_id(container_id: str) -> None:
    """runtime.md#state: ids are unique per runtime; they also name a directory, so no '/' or '..'."""
    if not container_id:
        raise InvalidArgument("container id must not be empty")
    if "/" in container_id or container_id in (".", "..") or "\0" in container_id:
        raise InvalidArgument(f"invalid container id {container_id!r}")
    if len(container_id) > 1024:
        raise InvalidArgument("container id is too long")


@dataclass
class Container:
    """What the runtime remembers about one container between invocations."""

    id: str
    bundle: str
    rootfs: str
    pid: int = 0
    #: start time of ``pid`` (proc(5) stat field 22), so a recycled pid is not mistaken for ours.
    pid_start: int = 0
    created: str = ""
    owner: str = "root"
    annotations: dict[str, str] = field(default_factory=dict)
    #: pid of the ``create`` process while the container is being created.
    creator: int = 0
    #: the parsed config.json, for hooks, namespaces and the user of later verbs.
    config: dict[str, Any] = field(default_factory=dict)
    #: the cgroup manager's ``to_state()``, or empty when the container has no cgroup.
    cgroup: dict[str, Any] = field(default_factory=dict)
    #: statuses the runtime set by itself (``stopped`` after a hook failure).
    forced_status: str = ""
    root: str = field(default=DEFAULT_ROOT, repr=False)

    @property
    def dir(self) -> str:
        return os.path.join(self.root, self.id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    def save(self) -> None:
        """Write state.json atomically."""
        record = asdict(self)
        del record["root"]
        atomic_write(os.path.join(self.dir, "state.json"), json.dumps(record).encode(), mode=0o600)

    def status(self) -> str:
        """runtime.md#state status: creating, created, running, paused or stopped."""
        if self.forced_status:
            return self.forced_status
        if not self.pid:
            return CREATING if self.creator and process_start(self.creator) else STOPPED
        if process_start(self.pid) != self.pid_start:
            return STOPPED
        if os.path.exists(self.fifo):
            return CREATED
        if self.cgroup and self.is_frozen():
            return PAUSED
        return RUNNING

    def is_frozen(self) -> bool:
        """Whether the container's cgroup freezer holds it."""
        from berth.runtime.cgroup_seam import load

        return load(self.cgroup).is_frozen()

    def oci_state(self) -> dict[str, Any]:
        """The state document of runtime.md#state, with runc's extra fields (rootfs, created, owner)."""
        status = self.status()
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status in (CREATED, RUNNING, PAUSED) else 0,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        }

    def remove(self) -> None:
        """Delete the state directory."""
        shutil.rmtree(self.dir, ignore_errors=True)


def new(root: str, container_id: str, bundle: str, rootfs: str) -> Container:
    """Reserve ``container_id`` by creating its state directory (fails if it exists)."""
    check_id(container_id)
    os.makedirs(root, 0o700, exist_ok=True)
    c = Container(id=container_id, bundle=bundle, rootfs=rootfs, root=root, creator=os.getpid())
    try:
        os.mkdir(c.dir, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container {container_id!r} already exists") from None
    return c


def load(root: str, container_id: str) -> Container:
    """Read a container's state.json."""
    check_id(container_id)
    try:
        with open(os.path.join(root, container_id, "state.json"), "rb") as fh:
            record = json.loads(fh.read())
    except FileNotFoundError:
        raise NotFound(f"container {container_id!r} does not exist") from None
    return Container(root=root, **record)


def list_ids(root: str) -> list[str]:
    """Ids of every container with a state.json under ``root``, sorted."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(root, n, "state.json")))


def process_start(pid: int) -> int:
    """Start time of a live (non-zombie) process, or 0 if it is gone (proc(5) /proc/pid/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return 0
    return int(fields[19])
