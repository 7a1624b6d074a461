"""The commit marker (``berth.cri.commits``): it changes whenever ``PRAGMA data_version`` would, through
any mix of commits, reads, rollbacks and checkpoints by other connections, and a read alone never
changes it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.cri.commits import CommitMarker

#: What another connection does, as SQL run on a connection of its own (opened and closed around it).
STEPS = {
    "insert": ["INSERT INTO t VALUES (randomblob(100))"],
    "insert many": ["BEGIN", *["INSERT INTO t VALUES (randomblob(3000))"] * 20, "COMMIT"],
    "delete": ["DELETE FROM t WHERE rowid IN (SELECT rowid FROM t LIMIT 3)"],
    "read": ["SELECT count(*) FROM t"],
    "rollback": ["BEGIN", "INSERT INTO t VALUES (1)", "ROLLBACK"],
    "no change": ["UPDATE t SET x = x WHERE 0"],
    **{
        f"checkpoint {mode}": [f"PRAGMA wal_checkpoint({mode})"]
        for mode in ("PASSIVE", "FULL", "RESTART", "TRUNCATE")
    },
}


def _held(path: Path) -> sqlite3.Connection:
    """A connection held for the test's life, as the CRI server holds the engine's database."""
    held = sqlite3.connect(path, isolation_level=None)
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("CREATE TABLE IF NOT EXISTS t (x)")
    held.execute("PRAGMA data_version").fetchone()
    return held


def _run(path: Path, statements: list[str]) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        for sql in statements:
            other.execute(sql).fetchall()
    finally:
        other.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), max_size=25))
def test_every_commit_changes_the_marker(steps: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "engine.db"
        held = _held(path)
        marker = CommitMarker(path)
        try:
            version = held.execute("PRAGMA data_version").fetchone()[0]
            header = marker.read()
            for step in steps:
                _run(path, STEPS[step])
                now_version = held.execute("PRAGMA data_version").fetchone()[0]
                now_header = marker.read()
                if now_version != version:
                    assert now_header != header, f"{step!r} committed and the header did not change"
                if step == "read":
                    assert now_header == header, "a read changed the header"
                version, header = now_version, now_header
        finally:
            held.close()
            marker.close()


def test_a_marker_needs_the_database_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    sqlite3.connect(path).close()
    with pytest.raises(FileNotFoundError, match=r"rollback\.db-shm"):
        CommitMarker(path)
