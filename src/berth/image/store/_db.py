"""The store's SQLite database (leases here; image records in ``berth.image.images``).

One file, ``<root>/metadata.db``, in WAL mode with a busy timeout, so several processes (concurrent
``berth`` commands) can read while one writes. Connections use autocommit; writers open
``BEGIN IMMEDIATE`` transactions through ``transaction`` so a write never fails half way on a lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

#: How long a connection waits for another process's write lock before failing.
BUSY_TIMEOUT_MS = 30_000

DB_NAME = "metadata.db"


def connect(root: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database of the store at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / DB_NAME, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction: ``BEGIN IMMEDIATE`` for writes, a consistent read snapshot otherwise."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
