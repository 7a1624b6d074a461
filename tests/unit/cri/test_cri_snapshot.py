"""The kept answers' freshness checks (``berth.cri.snapshot``): a commit by another connection, and a
watched monitor's end, make the next ``get`` build again; nothing else does."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.cri.snapshot import Snapshot


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    """A database in WAL mode with a connection held open (as the CRI server holds the engine's)."""
    path = tmp_path / "engine.db"
    held = sqlite3.connect(path, isolation_level=None)
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("CREATE TABLE containers (id TEXT)")
    yield path
    held.close()


def _commit(path: Path, sql: str) -> None:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute(sql)
    writer.close()


class _Services:
    """What ``Snapshot.get`` asks of ``berth.cri.service.Services``."""

    def __init__(self, database: Path) -> None:
        self.held = sqlite3.connect(database, isolation_level=None)

    def database_version(self) -> int:
        return int(self.held.execute("PRAGMA data_version").fetchone()[0])

    @contextlib.contextmanager
    def engine(self) -> Iterator[None]:
        yield None


def test_a_commit_or_a_monitor_ending_builds_again(database: Path) -> None:
    monitor = subprocess.Popen(["sleep", "60"])
    builds: list[int] = []

    def make(_engine: Any) -> tuple[int, Iterable[int]]:
        builds.append(len(builds))
        return len(builds), [monitor.pid] if monitor.poll() is None else []

    services: Any = _Services(database)
    snapshot = Snapshot(make)
    try:
        assert snapshot.get(services) == 1
        assert snapshot.get(services) == 1  # nothing changed: kept
        _commit(database, "INSERT INTO containers VALUES ('made')")
        assert snapshot.get(services) == 2
        assert snapshot.get(services) == 2
        monitor.kill()
        monitor.wait()
        assert snapshot.get(services) == 3  # its pidfd turned readable
        assert snapshot.get(services) == 3
    finally:
        monitor.kill()
        monitor.wait()
        snapshot.close()
        services.held.close()
