"""Names, tags, routes and the referrers tag schema (distribution-spec spec.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.distribution.server.errors import RegistryError
from berth.distribution.server.routes import parse_route
from berth.errors import InvalidArgument
from berth.spec.distribution import is_valid_name, is_valid_tag, referrers_tag, validate_name

GOOD_NAMES = ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z", "0"]
BAD_NAMES = ["", "A", "a/", "/a", "a//b", "a__-b", "a_.b", "..", "a/../b", "-a", "a.", "a b", "a" * 256]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name) and validate_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(InvalidArgument):
        validate_name(name)


@given(st.text())
def test_valid_names_never_climb_or_hide(name: str) -> None:
    if is_valid_name(name):
        parts = name.split("/")
        assert all(p and p not in (".", "..") and not p.startswith(("_", ".", "-")) for p in parts)


def test_tags() -> None:
    assert is_valid_tag("latest") and is_valid_tag("_x.Y-1") and is_valid_tag("a" * 128)
    for bad in ("", "-x", ".x", "a" * 129, "a/b", "a:b"):
        assert not is_valid_tag(bad)


def test_referrers_tag_schema() -> None:
    assert referrers_tag("sha256", "a" * 64) == "sha256-" + "a" * 64
    long_alg = "test+algorithm+using+algorithm+separators+and+lots+of+characters"
    assert referrers_tag(long_alg, "b=c" * 30) == "test-algorithm-using-algorithm-s-" + ("b-c" * 30)[:64]


def test_routes() -> None:
    assert parse_route("").kind == "base"
    assert parse_route("_catalog").kind == "catalog"
    route = parse_route("a/blobs/b/manifests/latest")
    assert (route.kind, route.name, route.reference) == ("manifest", "a/blobs/b", "latest")
    assert parse_route("x/y/blobs/uploads/").kind == "uploads"
    assert parse_route("x/blobs/uploads/abc").kind == "upload"
    assert parse_route("x/blobs/sha256:00").kind == "blob"
    assert parse_route("x/tags/list").name == "x"
    assert parse_route("x/referrers/sha256:00").kind == "referrers"
    with pytest.raises(RegistryError) as err:
        parse_route("../x/tags/list")
    assert err.value.code.code == "NAME_INVALID"
    with pytest.raises(RegistryError):
        parse_route("x/nothing")
