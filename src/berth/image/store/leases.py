"""Leases: named, expiring claims that keep in-flight blobs and ingests safe from garbage collection.

The idea is containerd's (leases/lease.go): a pull takes a lease, every blob it writes or finds
already present is added to the lease, the image record is written, then the lease is released.
Garbage collection keeps whatever a live lease names, so it may run while the pull does.
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument, NotFound
from berth.image.store import _db

#: Resource kinds a lease can hold.
CONTENT = "content"
INGEST = "ingest"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    expires REAL
);
CREATE TABLE IF NOT EXISTS lease_resources (
    lease TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (lease, kind, key)
);
"""


@dataclass(frozen=True)
class Lease:
    """A lease: its id, creation time and expiry (Unix seconds; ``None`` never expires)."""

    id: str
    created: float
    expires: float | None

    def expired(self, now: float | None = None) -> bool:
        """Whether the lease no longer protects anything."""
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


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
        return self._conn

    def create(self, lease_id: str | None = None, expires_in: float | None = 24 * 3600) -> Lease:
        """A new lease, named ``lease_id`` or a random name, that expires after ``expires_in`` seconds."""
        lease_id = lease_id or f"lease-{secrets.token_hex(8)}"
        if not lease_id or "\0" in lease_id:
            raise InvalidArgument(f"invalid lease id {lease_id!r}")
        now = time.time()
        lease = Lease(lease_id, now, None if expires_in is None else now + expires_in)
        with _db.transaction(self.conn) as c:
            try:
                c.execute("INSERT INTO leases VALUES (?, ?, ?)", (lease.id, lease.created, lease.expires))
            except sqlite3.IntegrityError:
                raise InvalidArgument(f"lease {lease_id!r} already exists") from None
        return lease

    def get(self, lease_id: str) -> Lease:
        """The lease called ``lease_id``; ``NotFound`` if there is none."""
        row = self.conn.execute(
            "SELECT id, created, expires FROM leases WHERE id = ?", (lease_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"lease {lease_id!r} not found")
        return Lease(*row)

    def list(self) -> list[Lease]:
        """Every lease, expired or not, oldest first."""
        rows = self.conn.execute("SELECT id, created, expires FROM leases ORDER BY created").fetchall()
        return [Lease(*row) for row in rows]

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


def protected(conn: sqlite3.Connection, now: float) -> tuple[set[str], set[str]]:
    """(digests, ingest refs) held by unexpired leases, read in the caller's transaction.

    ``conn`` must come from ``Leases.conn`` (which creates the tables).
    """
    rows = conn.execute(
        "SELECT r.kind, r.key FROM lease_resources r JOIN leases l ON l.id = r.lease "
        "WHERE l.expires IS NULL OR l.expires > ?",
        (now,),
    ).fetchall()
    content = {key for kind, key in rows if kind == CONTENT}
    ingests = {key for kind, key in rows if kind == INGEST}
    return content, ingests


def delete_expired(conn: sqlite3.Connection, now: float) -> int:
    """Delete expired leases; return how many."""
    return conn.execute("DELETE FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,)).rowcount
