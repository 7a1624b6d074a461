"""Leases: named, expiring claims that keep in-flight blobs and ingests safe from garbage collection.

The idea is containerd's (leases/lease.go): a pull takes a lease, every blob it writes or finds
already present is added to the lease, the image record is written, then the lease is released.
Garbage collection keeps whatever a live lease names, so it may run while the pull does.

A lease may name its owner process (pid and start time, ``/proc/<pid>/stat`` field 22, so a reused
pid is not mistaken for the owner): once that process is gone the lease counts as expired, so a pull
killed half way leaves nothing protected for a day.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import time
from pathlib import Path

from berth.errors import InvalidArgument, NotFound
from berth.image.store import _db
from berth.spec.records import record

#: Resource kinds a lease can hold.
CONTENT = "content"
INGEST = "ingest"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    expires REAL,
    owner_pid INTEGER,
    owner_start INTEGER
);
CREATE TABLE IF NOT EXISTS lease_resources (
    lease TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (lease, kind, key)
);
"""


#: Columns added after the first schema; an older database gets them on open.
_ADDED_COLUMNS = {"owner_pid": "INTEGER", "owner_start": "INTEGER"}
_COLUMNS = "id, created, expires, owner_pid, owner_start"


@record(frozen=True)
class Owner:
    """The process a lease belongs to: its pid and start time (clock ticks after boot)."""

    pid: int
    start: int

    def alive(self) -> bool:
        """Whether this very process still runs (same pid and same start time)."""
        return process_start_time(self.pid) == self.start


def process_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (proc(5) ``starttime``), or ``None`` if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ")": split after the last.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[22 - 3])


def this_process() -> Owner:
    """The calling process as a lease owner."""
    pid = os.getpid()
    start = process_start_time(pid)
    assert start is not None  # our own /proc entry exists while we run
    return Owner(pid, start)


@record(frozen=True)
class Lease:
    """A lease: its id, creation time, expiry (Unix seconds; ``None`` never expires) and owner."""

    id: str
    created: float
    expires: float | None
    owner: Owner | None = None

    def expired(self, now: float | None = None) -> bool:
        """Whether the lease no longer protects anything: past its expiry, or its owner is gone."""
        if self.owner is not None and not self.owner.alive():
            return True
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


def _lease(row: tuple[str, float, float | None, int | None, int | None]) -> Lease:
    lease_id, created, expires, pid, start = row
    owner = Owner(pid, start) if pid is not None and start is not None else None
    return Lease(lease_id, created, expires, owner)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the owner columns to a leases table made before they existed."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(leases)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in have:
            with contextlib.suppress(sqlite3.OperationalError):  # another process just added it
                conn.execute(f"ALTER TABLE leases ADD COLUMN {name} {kind}")


class Leases:
    """The leases of the store at ``root`` (kept in its SQLite database)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The database connection, opened (and the schema created) on first use."""
        if self._conn is None:
            self._conn = _db.connect(self._root)
            self._conn.executescript(_SCHEMA)
            _migrate(self._conn)
        return self._conn

    def create(
        self,
        lease_id: str | None = None,
        expires_in: float | None = 24 * 3600,
        owner: Owner | None = None,
    ) -> Lease:
        """A new lease, named ``lease_id`` or a random name, that expires after ``expires_in`` seconds.

        With an ``owner``, the lease also ends when that process does.
        """
        lease_id = lease_id or f"lease-{os.urandom(8).hex()}"
        if not lease_id or "\0" in lease_id:
            raise InvalidArgument(f"invalid lease id {lease_id!r}")
        now = time.time()
        lease = Lease(lease_id, now, None if expires_in is None else now + expires_in, owner)
        with _db.transaction(self.conn) as c:
            try:
                c.execute(
                    f"INSERT INTO leases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    (
                        lease.id,
                        lease.created,
                        lease.expires,
                        owner.pid if owner else None,
                        owner.start if owner else None,
                    ),
                )
            except sqlite3.IntegrityError:
                raise InvalidArgument(f"lease {lease_id!r} already exists") from None
        return lease

    def get(self, lease_id: str) -> Lease:
        """The lease called ``lease_id``; ``NotFound`` if there is none."""
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM leases WHERE id = ?", (lease_id,)).fetchone()
        if row is None:
            raise NotFound(f"lease {lease_id!r} not found")
        return _lease(row)

    def list(self) -> list[Lease]:
        """Every lease, expired or not, oldest first."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM leases ORDER BY created").fetchall()
        return [_lease(row) for row in rows]

    def add(self, lease_id: str, kind: str, key: str) -> None:
        """Record that ``lease_id`` protects the resource ``kind``/``key`` (a digest or an ingest ref)."""
        with _db.transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM leases WHERE id = ?", (lease_id,)).fetchone() is None:
                raise NotFound(f"lease {lease_id!r} not found")
            c.execute("INSERT OR IGNORE INTO lease_resources VALUES (?, ?, ?)", (lease_id, kind, key))

    def resources(self, lease_id: str) -> builtins.list[tuple[str, str]]:
        """The (kind, key) pairs ``lease_id`` protects."""
        rows = self.conn.execute(
            "SELECT kind, key FROM lease_resources WHERE lease = ? ORDER BY kind, key", (lease_id,)
        ).fetchall()
        return [(k, v) for k, v in rows]

    def delete(self, lease_id: str) -> None:
        """Release a lease; what it protected becomes collectable unless something else holds it."""
        with _db.transaction(self.conn) as c:
            if c.execute("DELETE FROM leases WHERE id = ?", (lease_id,)).rowcount == 0:
                raise NotFound(f"lease {lease_id!r} not found")

    def close(self) -> None:
        """Close the database connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _orphaned(conn: sqlite3.Connection) -> list[str]:
    """Ids of leases whose owner process is gone."""
    rows = conn.execute(
        "SELECT id, owner_pid, owner_start FROM leases WHERE owner_pid IS NOT NULL"
    ).fetchall()
    return [lid for lid, pid, start in rows if not Owner(pid, start).alive()]


def protected(conn: sqlite3.Connection, now: float) -> tuple[set[str], set[str]]:
    """(digests, ingest refs) held by unexpired leases whose owner (if any) lives, read in the
    caller's transaction.

    ``conn`` must come from ``Leases.conn`` (which creates the tables).
    """
    rows = conn.execute(
        "SELECT r.lease, r.kind, r.key FROM lease_resources r JOIN leases l ON l.id = r.lease "
        "WHERE l.expires IS NULL OR l.expires > ?",
        (now,),
    ).fetchall()
    orphaned = set(_orphaned(conn))
    content = {key for lease, kind, key in rows if kind == CONTENT and lease not in orphaned}
    ingests = {key for lease, kind, key in rows if kind == INGEST and lease not in orphaned}
    return content, ingests


def delete_expired(conn: sqlite3.Connection, now: float) -> int:
    """Delete expired leases and those whose owner process is gone; return how many."""
    count = conn.execute("DELETE FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,)).rowcount
    for lease_id in _orphaned(conn):
        count += conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,)).rowcount
    return count
