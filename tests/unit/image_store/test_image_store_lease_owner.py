"""image/store leases: a lease owned by a process ends with it; older databases gain the owner columns."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from berth.image.images import ImageStore
from berth.image.store import ContentStore
from berth.image.store.leases import Owner, process_start_time, this_process


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_process_start_time_reads_proc_stat() -> None:
    me = this_process()
    assert me.alive()
    assert process_start_time(dead_pid()) is None
    # Same pid, other start time: a reused pid is not the owner.
    assert not Owner(me.pid, me.start + 1).alive()


def test_lease_of_a_dead_owner_protects_nothing(images: ImageStore) -> None:
    store = images.content
    live = store.leases.create("live", owner=this_process())
    dead = store.leases.create("dead", owner=Owner(dead_pid(), 1))
    kept = store.put(b"kept", lease=live)
    lost = store.put(b"lost", lease=dead)
    with store.writer("dead-ingest", lease=dead) as w:
        w.write(b"half")
    assert not store.leases.get("live").expired() and store.leases.get("dead").expired()
    report = images.gc(ingest_grace=0.0)
    assert report.expired_leases == 1
    assert report.removed_blobs == [lost] and report.removed_ingests == ["dead-ingest"]
    assert store.info(kept).size == 4
    assert [lease.id for lease in store.leases.list()] == ["live"]


def test_ingest_held_by_a_live_writer_survives_gc(images: ImageStore) -> None:
    store = images.content
    dead = store.leases.create("dead", owner=Owner(dead_pid(), 1))
    with store.writer("busy", lease=dead) as w:
        w.write(b"still writing")
        assert images.gc(ingest_grace=0.0).removed_ingests == []
    assert [s.ref for s in store.ingests()] == ["busy"]


def test_old_leases_table_gains_owner_columns(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    conn = sqlite3.connect(root / "metadata.db")
    conn.execute("CREATE TABLE leases (id TEXT PRIMARY KEY, created REAL NOT NULL, expires REAL)")
    conn.execute("INSERT INTO leases VALUES ('old', 1.0, NULL)")
    conn.commit()
    conn.close()
    store = ContentStore(root)
    try:
        old = store.leases.get("old")
        assert old.owner is None and not old.expired()
        new = store.leases.create("new", owner=this_process())
        assert store.leases.get("new") == new
    finally:
        store.close()
    # Opening again (columns already there) changes nothing.
    store = ContentStore(root)
    try:
        assert [lease.id for lease in store.leases.list()] == ["old", "new"]
    finally:
        store.close()
