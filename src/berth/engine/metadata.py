"""The engine's metadata database: containers, pods, volumes and networks in one SQLite file.

Every ``berth`` command opens the database, acts in short transactions and exits, so several commands
may run at once: the database is in WAL mode (readers never block the writer), waits on a busy
timeout instead of failing, and every write starts with ``BEGIN IMMEDIATE`` so two writers queue
rather than deadlock. The schema version lives in ``PRAGMA user_version`` and migrations run once,
under the write lock.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from berth.errors import AlreadyExists, BerthError, InvalidArgument, NotFound
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

#: How long a command waits for another command's write transaction before giving up.
BUSY_TIMEOUT_S = 30.0

_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image TEXT NOT NULL,
        config TEXT NOT NULL,
        state TEXT NOT NULL,
        pid INTEGER NOT NULL DEFAULT 0,
        monitor_pid INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER,
        oom_killed INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        runtime TEXT NOT NULL,
        networks TEXT NOT NULL DEFAULT '{}',
        mounts TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        mountpoint TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE TABLE networks (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,
        bridge TEXT NOT NULL UNIQUE,
        subnet TEXT NOT NULL,
        gateway TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    # version 2: the image a container was made from, by ID (config digest) and manifest digest,
    # so image commands know a container's image after its name moved to another image.
    """
    ALTER TABLE containers ADD COLUMN image_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE containers ADD COLUMN image_digest TEXT NOT NULL DEFAULT ''
    """,
    # version 3: restart policies: how often the policy restarted a container, and whether a user
    # stopped it (which the policy then respects).
    """
    ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE containers ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0
    """,
    # version 4: pods, and the pod a container belongs to ('' for none).
    """
    CREATE TABLE pods (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        infra_id TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}',
        annotations TEXT NOT NULL DEFAULT '{}',
        cgroup_parent TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    ALTER TABLE containers ADD COLUMN pod TEXT NOT NULL DEFAULT ''
    """,
    # version 5: internal networks (no way out of their bridge), a network's IPv6 subnet, and the
    # ranges inside its subnets that containers take addresses from.
    """
    ALTER TABLE networks ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT '';
    ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';
    ALTER TABLE networks ADD COLUMN ip_range TEXT NOT NULL DEFAULT '';
    ALTER TABLE networks ADD COLUMN ip_range6 TEXT NOT NULL DEFAULT ''
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)

#: Container states, as podman names them.
CONFIGURED, CREATED, RUNNING, PAUSED, STOPPED, EXITED = (
    "configured",
    "created",
    "running",
    "paused",
    "stopped",
    "exited",
)
#: States in which a monitor watches the container.
ACTIVE = (CREATED, RUNNING, PAUSED)


def shown_state(state: str) -> str:
    """A container state as inspect and pod inspect show it: podman shows its "configured" (made,
    never run) as Docker's "created"."""
    return CREATED if state == CONFIGURED else state


@record
class ContainerRecord:
    """One container as the database holds it.

    ``config`` is the engine's creation request (the user's flags and the resolved image settings);
    ``image_id`` and ``image_digest`` are the image's config and manifest digests (``sha256:...``;
    empty for ``--rootfs`` and for containers made before schema 2); ``networks`` maps a network
    name to what CNI assigned there; ``mounts`` lists the container's mounts; ``restart_count`` is
    how often the restart policy started it again, ``stopped_by_user`` whether ``stop`` or ``kill``
    ended it (the policy leaves it stopped then).
    """

    id: str
    name: str
    image: str
    config: dict[str, Any]
    runtime: str
    state: str = CONFIGURED
    pid: int = 0
    monitor_pid: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    networks: dict[str, Any] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    image_id: str = ""
    image_digest: str = ""
    restart_count: int = 0
    stopped_by_user: bool = False
    pod: str = ""


@record
class PodRecord:
    """A pod: containers that share the namespaces of its infra container and sit in its cgroup.

    ``infra_id`` is the infra container's id ("" for a pod made without one); ``config`` is the
    ``PodOptions`` it was made with (``to_json``) plus what the engine resolved (the network);
    ``cgroup_parent`` is the cgroup its containers' cgroups sit in (``linux.cgroupsPath``'s parent).
    """

    id: str
    name: str
    infra_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    created_at: float = field(default_factory=time.time)


@record
class VolumeRecord:
    """A named volume: its data lives in ``mountpoint``."""

    name: str
    mountpoint: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)


@record
class NetworkRecord:
    """A bridge network served by CNI; its configuration list sits in the networks directory."""

    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str
    driver: str = "bridge"
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    #: No route out of the bridge: no default route, no masquerade, forwarding refused.
    internal: bool = False
    #: The IPv6 subnet and gateway beside the IPv4 ones; empty for an IPv4-only network.
    subnet6: str = ""
    gateway6: str = ""
    #: The part of ``subnet`` (``subnet6``) containers take addresses from; empty for all of it.
    ip_range: str = ""
    ip_range6: str = ""


_CONTAINER_JSON = ("config", "networks", "mounts")
_CONTAINER_COLUMNS = (
    *("id", "name", "image", "config", "state", "pid", "monitor_pid", "exit_code", "oom_killed"),
    *("error", "created_at", "started_at", "finished_at", "runtime", "networks", "mounts"),
    *("image_id", "image_digest", "restart_count", "stopped_by_user", "pod"),
)
_CONTAINER_BOOLS = ("oom_killed", "stopped_by_user")  # INTEGER columns


def _container_from_row(row: sqlite3.Row) -> ContainerRecord:
    values = {k: row[k] for k in _CONTAINER_COLUMNS}
    for k in _CONTAINER_JSON:
        values[k] = json.loads(values[k])
    for k in _CONTAINER_BOOLS:
        values[k] = bool(values[k])
    return ContainerRecord(**values)


def _container_values(record: ContainerRecord) -> dict[str, Any]:
    values = {k: getattr(record, k) for k in _CONTAINER_COLUMNS}
    for k in _CONTAINER_JSON:
        values[k] = json.dumps(values[k], sort_keys=True)
    for k in _CONTAINER_BOOLS:
        values[k] = int(values[k])
    return values


class Metadata:
    """An open metadata database. Use as a context manager, or call ``close``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise BerthError(f"cannot open metadata database {path}: {err}") from None
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._migrate()
        # WAL is a property of the file; NORMAL sync is crash-safe in WAL mode and skips an fsync per commit.
        self._db.execute("PRAGMA synchronous = NORMAL")

    def _migrate(self) -> None:
        self._use_wal()
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BerthError(
                    f"metadata database schema {version} is newer than this berth ({SCHEMA_VERSION})"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _use_wal(self) -> None:
        """Put the file in WAL mode (outside any transaction, as SQLite requires). Changing the mode
        needs the file to itself and SQLite does not wait for that (no busy handler), so commands
        opening a fresh database at once retry here rather than fail with "database is locked"."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise BerthError(
                        "metadata database: cannot switch it to WAL mode: it stays locked"
                    ) from None
                time.sleep(0.01)

    def close(self) -> None:
        """Close the connection (required before the process forks)."""
        self._db.close()

    def __enter__(self) -> Metadata:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction: taken with ``BEGIN IMMEDIATE``, committed on success."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- containers ---------------------------------------------------------------------------------

    def add_container(self, record: ContainerRecord) -> None:
        """Insert a new container; ``AlreadyExists`` if its name is taken."""
        values = _container_values(record)
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        try:
            with self.transaction() as db:
                db.execute(f"INSERT INTO containers ({columns}) VALUES ({marks})", values)
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"container name {record.name!r} is already in use") from None

    def container(self, ref: str) -> ContainerRecord:
        """The container named ``ref``, or whose id is or starts with ``ref``."""
        rows = self._db.execute(
            "SELECT * FROM containers WHERE name = ? OR id = ? OR id LIKE ? LIMIT 2",
            (ref, ref, _prefix_pattern(ref)),
        ).fetchall()
        exact = [r for r in rows if ref in (r["name"], r["id"])]
        if exact:
            return _container_from_row(exact[0])
        if len(rows) > 1:
            raise InvalidArgument(f"container id prefix {ref!r} is ambiguous")
        if not rows:
            raise NotFound(f"no such container: {ref}")
        return _container_from_row(rows[0])

    def containers(self) -> list[ContainerRecord]:
        """Every container, newest first."""
        rows = self._db.execute("SELECT * FROM containers ORDER BY created_at DESC").fetchall()
        return [_container_from_row(r) for r in rows]

    def update_container(self, cid: str, only_if_state: str | None = None, **fields: Any) -> bool:
        """Set ``fields`` on container ``cid``; with ``only_if_state``, only while it is in that state.

        Returns whether a row changed (``False`` if the container is gone or in another state).
        """
        values = dict(fields)
        for k in _CONTAINER_JSON:
            if k in values:
                values[k] = json.dumps(values[k], sort_keys=True)
        for k in _CONTAINER_BOOLS:
            if k in values:
                values[k] = int(values[k])
        sets = ", ".join(f"{k} = :{k}" for k in values)
        where = "id = :_id" + (" AND state = :_state" if only_if_state else "")
        with self.transaction() as db:
            cursor = db.execute(
                f"UPDATE containers SET {sets} WHERE {where}", {**values, "_id": cid, "_state": only_if_state}
            )
        return cursor.rowcount > 0

    def rename_container(self, cid: str, name: str) -> None:
        """Give container ``cid`` the name ``name``; ``AlreadyExists`` if another has it."""
        try:
            with self.transaction() as db:
                db.execute("UPDATE containers SET name = ? WHERE id = ?", (name, cid))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"container name {name!r} is already in use") from None

    def remove_container(self, cid: str) -> None:
        """Delete container ``cid``'s record (no error if already gone)."""
        with self.transaction() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))

    # -- pods ---------------------------------------------------------------------------------------

    def add_pod(self, record: PodRecord) -> None:
        """Insert a new pod; ``AlreadyExists`` if its name is taken."""
        values = _pod_values(record)
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        try:
            with self.transaction() as db:
                db.execute(f"INSERT INTO pods ({columns}) VALUES ({marks})", values)
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"pod name {record.name!r} is already in use") from None

    def pod(self, ref: str) -> PodRecord:
        """The pod named ``ref``, or whose id is or starts with ``ref``."""
        rows = self._db.execute(
            "SELECT * FROM pods WHERE name = ? OR id = ? OR id LIKE ? LIMIT 2",
            (ref, ref, _prefix_pattern(ref)),
        ).fetchall()
        exact = [r for r in rows if ref in (r["name"], r["id"])]
        if exact:
            return _pod_from_row(exact[0])
        if len(rows) > 1:
            raise InvalidArgument(f"pod id prefix {ref!r} is ambiguous")
        if not rows:
            raise NotFound(f"no such pod: {ref}")
        return _pod_from_row(rows[0])

    def pods(self) -> list[PodRecord]:
        """Every pod, newest first."""
        rows = self._db.execute("SELECT * FROM pods ORDER BY created_at DESC").fetchall()
        return [_pod_from_row(r) for r in rows]

    def update_pod(self, pid: str, **fields: Any) -> None:
        """Set ``fields`` on pod ``pid``."""
        values = {k: json.dumps(v, sort_keys=True) if k in _POD_JSON else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = :{k}" for k in values)
        with self.transaction() as db:
            db.execute(f"UPDATE pods SET {sets} WHERE id = :_id", {**values, "_id": pid})

    def remove_pod(self, pid: str) -> None:
        """Delete pod ``pid``'s record (no error if already gone)."""
        with self.transaction() as db:
            db.execute("DELETE FROM pods WHERE id = ?", (pid,))

    # -- volumes ------------------------------------------------------------------------------------

    def add_volume(self, record: VolumeRecord) -> None:
        """Insert a new volume; ``AlreadyExists`` if the name is taken."""
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO volumes (name, driver, mountpoint, labels, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.driver,
                        record.mountpoint,
                        json.dumps(record.labels),
                        record.created_at,
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"volume {record.name!r} already exists") from None

    def volume(self, name: str) -> VolumeRecord:
        """The volume called ``name``."""
        row = self._db.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no such volume: {name}")
        return _volume_from_row(row)

    def volumes(self) -> list[VolumeRecord]:
        """Every volume, by name."""
        return [_volume_from_row(r) for r in self._db.execute("SELECT * FROM volumes ORDER BY name")]

    def remove_volume(self, name: str) -> None:
        """Delete volume ``name``'s record."""
        with self.transaction() as db:
            db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    # -- networks -----------------------------------------------------------------------------------

    def add_network(self, record: NetworkRecord) -> None:
        """Insert a new network; ``AlreadyExists`` if its name or bridge is taken."""
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO networks (name, id, driver, bridge, subnet, gateway, labels, created_at, "
                    "internal, subnet6, gateway6, ip_range, ip_range6) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.id,
                        record.driver,
                        record.bridge,
                        record.subnet,
                        record.gateway,
                        json.dumps(record.labels),
                        record.created_at,
                        int(record.internal),
                        record.subnet6,
                        record.gateway6,
                        record.ip_range,
                        record.ip_range6,
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"network {record.name!r} (bridge {record.bridge}) already exists") from None

    def network(self, name: str) -> NetworkRecord:
        """The network called ``name`` (or whose id starts with ``name``)."""
        row = self._db.execute(
            "SELECT * FROM networks WHERE name = ? OR id LIKE ? LIMIT 1", (name, _prefix_pattern(name))
        ).fetchone()
        if row is None:
            raise NotFound(f"no such network: {name}")
        return _network_from_row(row)

    def networks(self) -> list[NetworkRecord]:
        """Every network, by name."""
        return [_network_from_row(r) for r in self._db.execute("SELECT * FROM networks ORDER BY name")]

    def remove_network(self, name: str) -> None:
        """Delete network ``name``'s record."""
        with self.transaction() as db:
            db.execute("DELETE FROM networks WHERE name = ?", (name,))


def _prefix_pattern(ref: str) -> str:
    # LIKE wildcards in a user's reference must match literally; ids are hex so this only guards names.
    escaped = ref.replace("\\", "").replace("%", "").replace("_", "")
    return f"{escaped}%" if len(escaped) >= 3 and escaped == ref else "\0"


_POD_JSON = ("config", "labels", "annotations")
_POD_COLUMNS = ("id", "name", "infra_id", "config", "labels", "annotations", "cgroup_parent", "created_at")


def _pod_from_row(row: sqlite3.Row) -> PodRecord:
    values = {k: json.loads(row[k]) if k in _POD_JSON else row[k] for k in _POD_COLUMNS}
    return PodRecord(**values)


def _pod_values(record: PodRecord) -> dict[str, Any]:
    return {k: json.dumps(getattr(record, k), sort_keys=True) if k in _POD_JSON else getattr(record, k)
            for k in _POD_COLUMNS}  # fmt: skip


def _volume_from_row(row: sqlite3.Row) -> VolumeRecord:
    return VolumeRecord(
        name=row["name"],
        mountpoint=row["mountpoint"],
        driver=row["driver"],
        labels=json.loads(row["labels"]),
        created_at=row["created_at"],
    )


def _network_from_row(row: sqlite3.Row) -> NetworkRecord:
    return NetworkRecord(
        name=row["name"],
        id=row["id"],
        bridge=row["bridge"],
        subnet=row["subnet"],
        gateway=row["gateway"],
        driver=row["driver"],
        labels=json.loads(row["labels"]),
        created_at=row["created_at"],
        internal=bool(row["internal"]),
        subnet6=row["subnet6"],
        gateway6=row["gateway6"],
        ip_range=row["ip_range"],
        ip_range6=row["ip_range6"],
    )
