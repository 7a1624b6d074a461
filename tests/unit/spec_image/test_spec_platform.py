"""spec/platform.py: normalization, parsing and compatible-variant matching."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.spec.platform import Platform, host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/8", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("Linux/AMD64", "linux/amd64"),
        ("macos/arm64", "darwin/arm64/v8"),
        ("s390x", "linux/s390x"),
    ],
)
def test_parse_normalizes(text: str, expected: str) -> None:
    assert str(Platform.parse(text)) == expected


@pytest.mark.parametrize(
    "text", ["", "/", "linux/", "linux/amd64/v8/x", "linux/am d64", "linux//v7", "linux/amd64\n"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid platform"):
        Platform.parse(text)


def test_bare_os_means_host_architecture() -> None:
    assert Platform.parse("linux") == host()


def test_host_is_normalized_linux() -> None:
    me = host()
    assert me.os == "linux"
    assert me == me.normalize()


def test_arm64_without_variant_matches_v8() -> None:
    assert Platform.parse("linux/arm64/v8").matches(Platform("linux", "arm64"))
    assert Platform("linux", "aarch64").matches(Platform("linux", "arm64", "v8"))


def test_older_variants_rank_below_exact() -> None:
    v7 = Platform.parse("linux/arm/v7")
    assert v7.rank(Platform("linux", "arm", "v7")) == 0
    assert v7.rank(Platform("linux", "arm", "v6")) == 1
    assert v7.rank(Platform("linux", "arm", "v8")) is None
    assert v7.rank(Platform("linux", "arm64")) is None
    amd = Platform.parse("linux/amd64")
    assert amd.rank(Platform("linux", "amd64", "v2")) is None
    assert Platform.parse("linux/amd64/v3").rank(Platform("linux", "amd64")) == 2


def test_os_mismatch_never_matches() -> None:
    assert not Platform.parse("linux/amd64").matches(Platform("windows", "amd64"))


def test_os_version_must_agree_when_both_given() -> None:
    want = Platform("windows", "amd64", os_version="10.0.17763.1")
    assert not want.matches(Platform("windows", "amd64", os_version="10.0.14393.1"))
    assert want.matches(Platform("windows", "amd64"))


def test_json_round_trip() -> None:
    p = Platform("windows", "amd64", "", "10.0.17763.1", ("win32k",))
    obj = p.to_json()
    assert obj == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.1",
        "os.features": ["win32k"],
    }
    assert Platform.from_json(obj, "p") == p


def test_from_json_names_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"^x\.platform\.architecture: required field missing$"):
        Platform.from_json({"os": "linux"}, "x.platform")


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.text(max_size=30))
def test_parse_junk_raises_only_invalid_argument(text: str) -> None:
    with contextlib.suppress(InvalidArgument):
        p = Platform.parse(text)
        assert Platform.parse(str(p)) == p
