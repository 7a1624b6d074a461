"""Hostile and broken layers: each fails with one clear error naming the entry, and nothing
outside the root is created, changed or removed (a sentinel directory beside it is checked)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import BerthError
from berth.image.layers import InvalidLayer, UnsafeLayerEntry, _syscalls, apply_layer
from tests.integration.image_layers.trees import describe, gz, make_tar, member, zst

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True, params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every case with openat2 and with the component-by-component walk (kernels before 5.6)."""
    if request.param == "walk":
        monkeypatch.setattr(_syscalls, "openat2_available", lambda: False)
    return str(request.param)


Layer = Callable[[Path], bytes]


def _setup(tmp_path: Path) -> tuple[Path, Path, object]:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "file").write_text("precious")
    root = tmp_path / "root"
    root.mkdir()
    return root, sentinel, describe(tmp_path)


CASES: dict[str, tuple[Layer, type[BerthError], str]] = {
    "dotdot entry": (lambda s: make_tar([member("../sentinel/pwned", data=b"x")]), UnsafeLayerEntry, "'..'"),
    "dotdot inside a name": (
        lambda s: make_tar([member("a/../../sentinel/pwned", data=b"x")]),
        UnsafeLayerEntry,
        "'..'",
    ),
    "absolute entry": (lambda s: make_tar([member(f"{s}/pwned", data=b"x")]), UnsafeLayerEntry, "absolute"),
    "symlink pointing out, then a file through it": (
        lambda s: make_tar(
            [member("evil", tarfile.SYMTYPE, linkname="../sentinel"), member("evil/pwned", data=b"x")]
        ),
        UnsafeLayerEntry,
        "outside the root",
    ),
    "symlink chain pointing out": (
        lambda s: make_tar(
            [
                member("d/", tarfile.DIRTYPE),
                member("d/one", tarfile.SYMTYPE, linkname="../two"),
                member("two", tarfile.SYMTYPE, linkname="d/../../sentinel"),
                member("d/one/pwned", data=b"x"),
            ]
        ),
        UnsafeLayerEntry,
        "outside the root",
    ),
    "symlinked parent directory pointing out, then a directory through it": (
        lambda s: make_tar(
            [member("up", tarfile.SYMTYPE, linkname=".."), member("up/sentinel/newdir/", tarfile.DIRTYPE)]
        ),
        UnsafeLayerEntry,
        "outside the root",
    ),
    "hard link to a file outside": (
        lambda s: make_tar([member("h", tarfile.LNKTYPE, linkname="../sentinel/file")]),
        UnsafeLayerEntry,
        "'..'",
    ),
    "hard link through a symlink pointing out": (
        lambda s: make_tar(
            [
                member("evil", tarfile.SYMTYPE, linkname="../sentinel"),
                member("h", tarfile.LNKTYPE, linkname="evil/file"),
            ]
        ),
        UnsafeLayerEntry,
        "outside the root",
    ),
    "absolute hard link": (
        lambda s: make_tar([member("h", tarfile.LNKTYPE, linkname=f"{s}/file")]),
        UnsafeLayerEntry,
        "absolute",
    ),
    "whiteout through a symlink pointing out": (
        lambda s: make_tar(
            [member("evil", tarfile.SYMTYPE, linkname="../sentinel"), member("evil/.wh.file")]
        ),
        UnsafeLayerEntry,
        "outside the root",
    ),
    "symlink loop": (
        lambda s: make_tar(
            [
                member("a", tarfile.SYMTYPE, linkname="b"),
                member("b", tarfile.SYMTYPE, linkname="a"),
                member("a/x", data=b"x"),
            ]
        ),
        UnsafeLayerEntry,
        "too many levels",
    ),
    "truncated gzip stream": (
        lambda s: gz(make_tar([member("f", data=os.urandom(100_000))]))[:5000],
        InvalidLayer,
        "truncated",
    ),
    "corrupt zstd stream": (
        lambda s: _corrupt(zst(make_tar([member("f", data=os.urandom(50_000))]))),
        InvalidLayer,
        "zstd",
    ),
    "truncated tar": (
        lambda s: make_tar([member("f", data=bytes(100_000))])[:20_000],
        InvalidLayer,
        "truncated",
    ),
    "not a tar at all": (lambda s: b"this is not a layer" * 100, InvalidLayer, "checksum"),
}


def _corrupt(blob: bytes) -> bytes:
    raw = bytearray(blob)
    mid = len(raw) // 2
    raw[mid : mid + 200] = bytes(200)
    return bytes(raw)


@pytest.mark.parametrize("overlay", [False, True], ids=["plain", "overlay"])
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_layer_is_refused_and_nothing_outside_changes(
    tmp_path: Path, case: str, overlay: bool
) -> None:
    root, sentinel, before = _setup(tmp_path)
    make, error, message = CASES[case]
    with pytest.raises(error, match=message) as info:
        apply_layer(io.BytesIO(make(sentinel)), root, overlay=overlay, lowers=[sentinel] if overlay else ())
    assert "\n" not in str(info.value)
    after = describe(tmp_path)
    outside = {k: v for k, v in after["entries"].items() if not k.startswith("root")}  # type: ignore[attr-defined]
    assert outside == {k: v for k, v in before["entries"].items() if not k.startswith("root")}  # type: ignore[index]
    assert (sentinel / "file").read_text() == "precious"


def test_absolute_symlink_is_followed_inside_the_root(tmp_path: Path) -> None:
    # An absolute symlink means the container's root: writing through it lands inside the root.
    root, sentinel, _ = _setup(tmp_path)
    layer = make_tar(
        [member("evil", tarfile.SYMTYPE, linkname=str(sentinel)), member("evil/pwned", data=b"x")]
    )
    apply_layer(io.BytesIO(layer), root)
    assert (root / str(sentinel).lstrip("/") / "pwned").read_bytes() == b"x"
    assert sorted(os.listdir(sentinel)) == ["file"]


def test_file_over_a_symlink_pointing_out_replaces_the_symlink(tmp_path: Path) -> None:
    root, sentinel, _ = _setup(tmp_path)
    (root / "passwd").symlink_to("../sentinel/file")  # from a lower layer
    (root / "abs").symlink_to(sentinel / "file")
    apply_layer(io.BytesIO(make_tar([member("passwd", data=b"new"), member("abs", data=b"new")])), root)
    assert (sentinel / "file").read_text() == "precious"
    assert not (root / "passwd").is_symlink() and (root / "passwd").read_bytes() == b"new"
    assert not (root / "abs").is_symlink()


def test_whiteout_of_a_symlink_removes_the_link_not_its_target(tmp_path: Path) -> None:
    root, sentinel, _ = _setup(tmp_path)
    (root / "link").symlink_to(sentinel)
    apply_layer(io.BytesIO(make_tar([member(".wh.link")])), root)
    assert not os.path.lexists(root / "link")
    assert (sentinel / "file").read_text() == "precious"


_SEED_LAYER = make_tar(
    [
        member("d/", tarfile.DIRTYPE),
        member("d/f", data=b"x" * 700, pax_headers={"SCHILY.xattr.user.a": "b"}),
        member("d/l", tarfile.SYMTYPE, linkname="f"),
        member("d/h", tarfile.LNKTYPE, linkname="d/f"),
        member("d/.wh.gone"),
        member("d/" + "n" * 150, data=b"long"),
    ]
)


@functools.cache
def _sparse_seeds() -> list[bytes]:
    """Small GNU tar archives of a sparse file, in the old GNU and the PAX 1.0 sparse formats."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/s", "wb") as f:
            for i in range(6):
                f.seek(i * 65536)
                f.write(b"data")
        return [
            subprocess.run(
                ["tar", *fmt, "--sparse", "-C", tmp, "-cf", "-", "s"], capture_output=True, check=True
            ).stdout
            for fmt in (["--format=gnu"], ["--format=posix", "--sparse-version=1.0"])
        ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_layers_fail_only_with_berth_errors(resolver: str, data: st.DataObject) -> None:
    seeds = [_SEED_LAYER, gz(_SEED_LAYER), zst(_SEED_LAYER), *_sparse_seeds()]
    raw = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as tmp:
        root, _, before = _setup(Path(tmp))
        with contextlib.suppress(BerthError):  # anything else fails the test
            apply_layer(io.BytesIO(bytes(raw[: data.draw(st.integers(0, len(raw)))])), root)
        after = describe(Path(tmp))
        assert {k: v for k, v in after["entries"].items() if not k.startswith("root")} == {  # type: ignore[attr-defined]
            k: v
            for k, v in before["entries"].items()
            if not k.startswith("root")  # type: ignore[index]
        }
