"""The detach sequence of an attach (``detachKeys``)."""

from __future__ import annotations

import pytest

from berth.dockerapi.detach_keys import DEFAULT, DetachKeys
from berth.dockerapi.errors import ApiError


def test_parse() -> None:
    assert DetachKeys.parse(DEFAULT).sequence == b"\x10\x11"
    assert DetachKeys.parse("ctrl-x,a,ctrl-@,ctrl-_").sequence == b"\x18a\x00\x1f"
    for bad in ("ctrl-", "ctrl-1", "ab", "", "ctrl-p,"):
        with pytest.raises(ApiError) as err:
            DetachKeys.parse(bad)
        assert err.value.status == 400


def test_feed_holds_a_started_sequence_and_gives_it_back_when_broken() -> None:
    keys = DetachKeys.parse(DEFAULT)
    assert keys.feed(b"ab\x10") == (b"ab", False)
    assert keys.feed(b"c") == (b"\x10c", False)
    assert keys.feed(b"\x10\x10") == (b"\x10", False)
    assert keys.feed(b"\x11rest") == (b"", True)
