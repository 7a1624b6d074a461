"""Mount options, safe path resolution, capability application order and rootfs steps, with a fake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.fsutil import resolve_in_root
from berth.runtime.linux import capabilities as caps
from berth.runtime.linux import rootfs
from berth.runtime.linux import syscalls as s
from berth.runtime.linux.mounts import parse_options
from berth.runtime.verbs.spec import default_config
from berth.spec.runtime_config import Capabilities, parse_config
from tests.unit.runtime.fake_syscalls import FakeSyscalls


def test_parse_options_splits_flags_propagation_and_data() -> None:
    opts = parse_options(("nosuid", "ro", "rw", "noexec", "rslave", "mode=755", "size=1m", "rbind"))
    assert opts.flags == s.MS_NOSUID | s.MS_NOEXEC | s.MS_BIND | s.MS_REC  # rw cleared ro
    assert opts.propagation == (s.MS_SLAVE | s.MS_REC,)
    assert opts.data == "mode=755,size=1m"
    assert opts.is_bind


def test_recursive_options_are_mount_attributes_for_the_whole_tree() -> None:
    opts = parse_options(("rbind", "rro", "rnosuid", "rsuid", "rnoexec", "ro"))
    assert opts.flags == s.MS_BIND | s.MS_REC | s.MS_RDONLY and opts.data == ""
    assert opts.attr_set == s.MOUNT_ATTR_RDONLY | s.MOUNT_ATTR_NOEXEC  # rsuid undid rnosuid
    assert opts.attr_clr == s.MOUNT_ATTR_NOSUID


def test_idmap_options_are_not_for_mount2_and_their_arguments_are_refused() -> None:
    assert parse_options(("rbind", "idmap", "ridmap", "ro")).data == ""
    with pytest.raises(InvalidArgument, match="idmap=uids"):
        parse_options(("idmap=uids=0-1000-10",))


def test_resolve_in_root_never_escapes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")
    (root / "up").symlink_to("../../../../outside")
    (root / "loop").symlink_to("loop")
    assert resolve_in_root(str(root), "/abs/passwd") == f"{root}/etc/passwd"
    assert resolve_in_root(str(root), "/up/x") == f"{root}/outside/x"
    assert resolve_in_root(str(root), "/../../etc") == f"{root}/etc"
    with pytest.raises(InvalidArgument, match="too many levels"):
        resolve_in_root(str(root), "/loop")


def test_capability_numbers() -> None:
    assert caps.number("CAP_CHOWN") == 0 and caps.number("kill") == 5 and caps.number("CAP_BPF") == 39
    assert caps.name(21) == "CAP_SYS_ADMIN"
    with pytest.raises(InvalidArgument, match="CAP_NOPE"):
        caps.number("CAP_NOPE")


def test_bounding_drop_then_sets_then_ambient() -> None:
    fake = FakeSyscalls()
    wanted = Capabilities(
        bounding=("CAP_KILL", "CAP_CHOWN"), effective=("CAP_KILL",), permitted=("CAP_KILL", "CAP_CHOWN"),
        inheritable=("CAP_KILL",), ambient=("CAP_KILL", "CAP_CHOWN"),
    )  # fmt: skip
    caps.drop_bounding(fake, wanted, 40)
    caps.apply_sets(fake, wanted, 40)
    dropped = [c[2] for c in fake.calls if c[:2] == ("prctl", s.PR_CAPBSET_DROP)]
    assert dropped == [n for n in range(41) if n not in (0, 5)]
    assert ("capset", 1 << 5, 1 << 5 | 1, 1 << 5) in fake.calls
    # Ambient is cleared, then only CAP_KILL (permitted and inheritable) is raised.
    ambient = [c for c in fake.calls if c[1] == s.PR_CAP_AMBIENT]
    assert ambient == [("prctl", s.PR_CAP_AMBIENT, s.PR_CAP_AMBIENT_CLEAR_ALL),
                       ("prctl", s.PR_CAP_AMBIENT, s.PR_CAP_AMBIENT_RAISE)]  # fmt: skip


def test_capabilities_newer_than_the_kernel_are_skipped() -> None:
    assert caps.mask(("CAP_CHECKPOINT_RESTORE", "CAP_KILL"), 39) == 1 << 5


def test_switch_root_pivots_and_detaches_the_old_root(tmp_path: Path) -> None:
    fake = FakeSyscalls()
    cwd = os.getcwd()
    try:
        rootfs.switch_root(fake, str(tmp_path), no_pivot=False)
    finally:
        os.chdir(cwd)
    assert [c[0] for c in fake.calls] == ["pivot_root", "mount", "umount2"]
    assert fake.calls[2] == ("umount2", ".", s.MNT_DETACH)


def test_finish_masks_readonlies_and_remounts_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    c = default_config()
    c["linux"]["maskedPaths"] = [str(tmp_path / "dir"), str(tmp_path / "file"), str(tmp_path / "missing")]
    c["linux"]["readonlyPaths"] = [str(tmp_path / "dir")]
    c["linux"]["rootfsPropagation"] = "shared"
    fake = FakeSyscalls()
    monkeypatch.setattr(os, "statvfs", lambda _p: os.statvfs_result((0,) * 11))
    rootfs.finish(fake, parse_config(c))
    mounts = [c[1:] for c in fake.calls]
    assert mounts[0] == ("tmpfs", str(tmp_path / "dir"), "tmpfs", s.MS_RDONLY, "size=0k")
    assert mounts[1] == ("/dev/null", str(tmp_path / "file"), "", s.MS_BIND, "")
    assert mounts[2] == (str(tmp_path / "dir"), str(tmp_path / "dir"), "", s.MS_BIND | s.MS_REC, "")
    assert mounts[3][3] == s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY
    assert mounts[4] == ("", "/", "", s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY, "")  # readonly root
    assert mounts[5] == ("", "/", "", s.MS_SHARED, "")
