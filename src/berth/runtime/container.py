"""A container's record in the runtime's state directory (runtime.md#state) and its status.

Layout: ``<root>/<id>/state.json`` (written atomically) and ``<root>/<id>/exec.fifo``, the FIFO the
init process blocks on between ``create`` and ``start`` (its presence means "created"), as runc does.
"""

from __future__ import annotations

import errno
import os
import time

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.fsutil import atomic_write, locked
from berth.runtime import jsontext

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import TracebackType
    from typing import Any

DEFAULT_ROOT = "/run/berth-runtime"
OCI_VERSION = "1.2.0"

CREATING, CREATED, RUNNING, STOPPED, PAUSED = "creating", "created", "running", "stopped", "paused"
#: The file in a container's state directory whose flock serializes the verbs that change it.
LOCK = "lock"


def check_id(container_id: str) -> None:
    """runtime.md#state: ids are unique per runtime; they also name a directory, so no '/' or '..'."""
    if not container_id:
        raise InvalidArgument("container id must not be empty")
    if "/" in container_id or container_id in (".", "..") or "\0" in container_id:
        raise InvalidArgument(f"invalid container id {container_id!r}")
    if len(container_id) > 1024:
        raise InvalidArgument("container id is too long")


class Container:
    """What the runtime remembers about one container between invocations (state.json)."""

    #: The fields saved in state.json, in order.
    FIELDS = ("id", "bundle", "rootfs", "pid", "pid_start", "created", "owner", "annotations", "creator",
              "config", "cgroup")  # fmt: skip

    def __init__(
        self,
        id: str,
        bundle: str,
        rootfs: str,
        pid: int = 0,
        pid_start: int = 0,
        created: str = "",
        owner: str = "root",
        annotations: dict[str, str] | None = None,
        creator: int = 0,
        config: dict[str, Any] | None = None,
        cgroup: dict[str, Any] | None = None,
        root: str = DEFAULT_ROOT,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.pid = pid
        #: start time of ``pid`` (proc(5) stat field 22), so a recycled pid is not mistaken for ours.
        self.pid_start = pid_start
        self.created = created
        self.owner = owner
        self.annotations = annotations or {}
        #: pid of the ``create`` process while the container is being created.
        self.creator = creator
        #: the decoded config.json, for hooks, namespaces and the process of later verbs.
        self.config = config or {}
        #: the cgroup manager's ``to_state()``, or empty when the container has no cgroup.
        self.cgroup = cgroup or {}
        self.root = root

    @property
    def dir(self) -> str:
        return os.path.join(self.root, self.id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    def save(self) -> None:
        """Write state.json atomically."""
        record = {name: getattr(self, name) for name in self.FIELDS}
        atomic_write(os.path.join(self.dir, "state.json"), jsontext.dumps(record).encode(), mode=0o600)

    def status(self) -> str:
        """runtime.md#state status: creating, created, running, paused or stopped."""
        if not self.pid:
            return CREATING if self.creator and process_start(self.creator) else STOPPED
        if process_start(self.pid) != self.pid_start:
            return STOPPED
        if os.path.exists(self.fifo):
            return CREATED
        if self.cgroup and self.is_frozen():
            return PAUSED
        return RUNNING

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the container's process; False if it has exited. The pid is pinned
        by a pidfd (pidfd_open(2)) before its start time is checked, so a process that took the pid
        after the container's process exited is never signalled."""
        if not self.pid:
            return False
        import _signal  # type: ignore[import-not-found]  # the signal module's enums cost ~4 ms

        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return False
        try:
            if process_start(self.pid) != self.pid_start:
                return False  # exited (a zombie or gone), or the pid is another process's now
            _signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            return False
        finally:
            os.close(pidfd)
        return True

    def is_frozen(self) -> bool:
        """Whether the container's cgroup freezer holds it."""
        from berth.runtime.linux.cgroups import load_manager

        return load_manager(self.cgroup).is_frozen()

    def oci_state(self) -> dict[str, Any]:
        """The state document of runtime.md#state as it is now (``state``, ``list``)."""
        status = self.status()
        return self.state_document(status, self.pid if status in (CREATED, RUNNING, PAUSED) else 0)

    def state_document(self, status: str, pid: int) -> dict[str, Any]:
        """runtime.md#state with ``status`` and ``pid`` as given, then runc's extra fields (rootfs,
        created, owner). Hooks get the state of their step in the lifecycle this way: by the time a
        hook runs, the container's process may have moved on (a poststart hook still sees it
        running, with its pid, after it has exited)."""
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }

    def remove(self) -> None:
        """Delete the state directory (state.json, the lock and, before start, exec.fifo)."""
        # A concurrent delete of the same container may have removed any of it already, and a verb
        # that came to wait for the lock may have just created the lock file anew: remove it again.
        for _ in range(10):
            try:
                for name in os.listdir(self.dir):
                    try:
                        os.unlink(os.path.join(self.dir, name))
                    except FileNotFoundError:
                        continue
                os.rmdir(self.dir)
                return
            except FileNotFoundError:
                return
            except OSError as err:
                if err.errno != errno.ENOTEMPTY:
                    raise
        os.rmdir(self.dir)


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


class Lock:
    """A container's lock, held for a ``with`` block (which gets its fd), so that verbs changing one
    container (two starts, a kill during a delete) run one after the other; entering raises
    ``NotFound`` if the container does not exist. The fd is close-on-exec but a forked child shares
    it: close it there, or the lock outlives the verb. (A class, not a generator: ``contextlib``
    and what it imports cost milliseconds on every start.)"""

    def __init__(self, root: str, container_id: str, creating: bool = False) -> None:
        check_id(container_id)
        self.container_id = container_id
        self.path = os.path.join(root, container_id, LOCK)
        #: only ``create`` locks a directory that has no state.json yet
        self.creating = creating
        self._held: AbstractContextManager[int] | None = None

    def __enter__(self) -> int:
        # Not a container (another directory under the root, e.g. the seccomp cache): make no lock
        # file there.
        if not self.creating and not os.path.exists(os.path.join(os.path.dirname(self.path), "state.json")):
            raise NotFound(f"container {self.container_id!r} does not exist")
        held = locked(self.path)
        try:
            fd = held.__enter__()
        except FileNotFoundError:
            raise NotFound(f"container {self.container_id!r} does not exist") from None
        self._held = held
        return fd

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(kind, err, tb)


def lock(root: str, container_id: str, creating: bool = False) -> Lock:
    """The lock of container ``container_id`` under ``root``, for a ``with`` block (``creating``:
    for ``create``, before state.json exists)."""
    return Lock(root, container_id, creating)


def load(root: str, container_id: str) -> Container:
    """Read a container's state.json."""
    check_id(container_id)
    try:
        with open(os.path.join(root, container_id, "state.json"), "rb") as fh:
            record = jsontext.loads(fh.read())
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


def wait_gone(pid: int, start: int, timeout: float = 10.0) -> bool:
    """Poll until process ``pid`` (started at ``start``) has exited; True if it did in time."""
    deadline = time.monotonic() + timeout
    while process_start(pid) == start and start:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
