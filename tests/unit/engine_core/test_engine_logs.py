"""The CRI log format: writing entries and putting lines back together."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.logs import LogWriter, format_entries, parse_entry, read_lines, rfc3339_nano, tail


def test_timestamp_is_rfc3339_with_nanoseconds() -> None:
    assert rfc3339_nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(5) == "1970-01-01T00:00:00.000000005Z"


def test_full_and_partial_entries() -> None:
    out = format_entries("stdout", b"one\ntwo\nthr", 0)
    assert out.splitlines() == [
        b"1970-01-01T00:00:00.000000000Z stdout F one",
        b"1970-01-01T00:00:00.000000000Z stdout F two",
        b"1970-01-01T00:00:00.000000000Z stdout P thr",
    ]
    assert format_entries("stderr", b"\n", 0) == b"1970-01-01T00:00:00.000000000Z stderr F \n"


def test_lines_rejoin_partials_per_stream(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "ctr.log")
    log.write("stdout", b"hel")
    log.write("stderr", b"err\n")
    log.write("stdout", b"lo\nbye")
    log.close()
    entries = (tmp_path / "ctr.log").read_bytes().splitlines(keepends=True)
    lines = list(read_lines(iter(entries)))
    assert [(ln.stream, ln.content, ln.complete) for ln in lines] == [
        ("stderr", b"err", True),
        ("stdout", b"hello", True),
        ("stdout", b"bye", False),
    ]
    assert [ln.content for ln in tail(lines, 2)] == [b"hello", b"bye"]
    assert tail(lines, 0) == [] and tail(lines, None) == lines


def test_content_may_contain_spaces() -> None:
    assert parse_entry(b"2023-01-01T00:00:00.000000000Z stdout F a b  c\n")[3] == b"a b  c"


@pytest.mark.parametrize("bad", [b"", b"x y z", b"t stdin F x", b"t stdout X x"])
def test_malformed_entries(bad: bytes) -> None:
    with pytest.raises(ValueError):
        parse_entry(bad)
