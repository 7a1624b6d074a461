"""fsutil: atomic writes never expose a partial file; locks exclude each other."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from berth.fsutil import atomic_write, locked


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b"old")
    atomic_write(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["state.json"]


def test_atomic_write_failure_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_locked_is_exclusive(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with locked(lock):
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_locked_shared_admits_readers_and_releases_on_exit(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with locked(lock, shared=True), locked(lock, shared=True):
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    with locked(lock):
        pass  # released above, so an exclusive lock is granted at once
