"""fsutil: atomic writes never expose a partial file; locks exclude each other."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from berth.fsutil import atomic_write, locked, remove_tree


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


def test_remove_tree_removes_everything_beneath_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "file").write_bytes(b"x")
    tree = tmp_path / "tree"
    (tree / "a" / "b" / "c").mkdir(parents=True)
    (tree / "a" / "b" / "c" / "deep").write_bytes(b"x")
    (tree / "top").write_bytes(b"x")
    (tree / "a" / "dirlink").symlink_to(outside)
    (tree / "a" / "filelink").symlink_to(outside / "keep" / "file")
    (tree / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tree / "fifo")
    remove_tree(tree)
    assert not tree.exists() and not tree.is_symlink()
    assert (outside / "keep" / "file").read_bytes() == b"x"


def test_remove_tree_leaves_a_link_or_file_given_as_the_tree_and_skips_a_missing_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "file").write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)  # as shutil.rmtree: a link is not a tree to remove
    assert link.is_symlink() and (target / "file").exists()
    remove_tree(target / "file")
    assert (target / "file").exists()
    remove_tree(tmp_path / "missing")


def test_remove_tree_skips_what_it_cannot_remove_and_removes_the_rest(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_bytes(b"x")
    (tree / "other").write_bytes(b"x")
    mount = tree / "mnt"
    mount.mkdir()
    (mount / "inside").write_bytes(b"x")
    os.chmod(mount, 0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "busy").write_bytes(b"x")
        remove_tree(tree)  # the mount point cannot be removed (EBUSY): everything else goes
        assert sorted(p.name for p in tree.iterdir()) == ["mnt"]
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    remove_tree(tree)
    assert not tree.exists()
