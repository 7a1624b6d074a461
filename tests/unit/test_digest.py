"""spec/digest.py: the digest grammar of image-spec descriptor.md#digests."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.spec.digest import Digest, new_hasher

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_round_trips_registered_digest() -> None:
    d = Digest.parse(EMPTY_SHA256)
    assert (d.algorithm, str(d)) == ("sha256", EMPTY_SHA256)
    assert d.verifiable


def test_parse_accepts_unregistered_but_well_formed() -> None:
    d = Digest.parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
    assert not d.verifiable


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":abc",
        "SHA256:" + "a" * 64,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha512:" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha256:abc/def",
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid digest"):
        Digest.parse(text)


@given(st.binary())
def test_of_matches_hashlib_and_parses_back(data: bytes) -> None:
    for algorithm in ("sha256", "sha512"):
        d = Digest.of(data, algorithm)
        assert d.encoded == hashlib.new(algorithm, data).hexdigest()
        assert Digest.parse(str(d)) == d


@given(st.lists(st.binary(), max_size=8))
def test_incremental_hasher_equals_one_shot(chunks: list[bytes]) -> None:
    h = new_hasher()
    for chunk in chunks:
        h.update(chunk)
    assert h.digest() == Digest.of(b"".join(chunks))


@given(st.text())
def test_parse_never_raises_anything_but_invalid_argument(text: str) -> None:
    with contextlib.suppress(InvalidArgument):
        Digest.parse(text)


def test_unknown_algorithm_cannot_hash() -> None:
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        new_hasher("md5")


def test_parse_rejects_trailing_newline() -> None:
    with pytest.raises(InvalidArgument):
        Digest.parse(EMPTY_SHA256 + "\n")
