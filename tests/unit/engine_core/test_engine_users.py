"""User resolution through the image's own /etc/passwd and /etc/group."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.containers.users import ResolvedUser, resolve_user
from berth.errors import InvalidArgument


def test_names_numbers_and_groups(rootfs: Path) -> None:
    assert resolve_user(rootfs, "") == ResolvedUser(0, 0, (), "/root")
    assert resolve_user(rootfs, "berth") == ResolvedUser(1000, 1000, (2000,), "/home/berth")
    assert resolve_user(rootfs, "1000") == ResolvedUser(1000, 1000, (2000,), "/home/berth")
    assert resolve_user(rootfs, "berth:extra") == ResolvedUser(1000, 2000, (), "/home/berth")
    assert resolve_user(rootfs, "4242") == ResolvedUser(4242, 0, (), "/")
    assert resolve_user(rootfs, "4242:77") == ResolvedUser(4242, 77, (), "/")


def test_unknown_names_fail(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        resolve_user(rootfs, "ghost")
    with pytest.raises(InvalidArgument, match="unable to find group nogroupx"):
        resolve_user(rootfs, "berth:nogroupx")


def test_image_without_passwd(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "0:0") == ResolvedUser(0, 0, (), "/")
    with pytest.raises(InvalidArgument):
        resolve_user(tmp_path, "root")
