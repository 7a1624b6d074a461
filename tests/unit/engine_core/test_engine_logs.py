"""The CRI log format: writing entries, putting lines back together, and ``--since``/``--until`` times."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers.logs import (
    LogWriter,
    format_entries,
    parse_entry,
    parse_log_time,
    read_lines,
    rfc3339_nano,
    tail,
)
from berth.errors import InvalidArgument


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


NOW = 1764064800_000000000  # 2025-11-25T10:00:00Z


@pytest.mark.parametrize(
    ("text", "stamp"),
    [("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000000Z"),
     ("2026-11-25T10:00:00.123456789Z", "2026-11-25T10:00:00.123456789Z"),
     ("2026-11-25T10:00:00.5+00:00", "2026-11-25T10:00:00.500000000Z"),
     ("2026-11-25T10:00:00+01:00", "2026-11-25T09:00:00.000000000Z"),
     ("1764000000", "2025-11-24T16:00:00.000000000Z"), ("1764000000.5", "2025-11-24T16:00:00.500000000Z"),
     ("10m", "2025-11-25T09:50:00.000000000Z"), ("1h30m", "2025-11-25T08:30:00.000000000Z"),
     ("500ms", "2025-11-25T09:59:59.500000000Z"), ("2.5s", "2025-11-25T09:59:57.500000000Z")],
)  # fmt: skip
def test_log_times_podman_takes(text: str, stamp: str) -> None:
    assert parse_log_time(text, NOW) == stamp


@pytest.mark.parametrize("text", ["yesterday", "10x", "", "1.2.3s", "m", "2026-13-01"])
def test_bad_log_times(text: str) -> None:
    with pytest.raises(InvalidArgument, match="is not a time"):
        parse_log_time(text, NOW)


@given(st.integers(0, 2**62), st.integers(0, 2**62))
def test_log_timestamps_compare_as_the_times_do(a: int, b: int) -> None:
    assert (rfc3339_nano(a) < rfc3339_nano(b)) == (a < b)


@given(st.integers(0, 2**62))
def test_a_log_timestamp_reads_back_as_itself(ns: int) -> None:
    assert parse_log_time(rfc3339_nano(ns), NOW) == rfc3339_nano(ns)


def test_a_size_limit_empties_the_log_before_it_would_be_exceeded(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    path.write_bytes(b"x" * 8000)  # left by an earlier run of the container
    writer = LogWriter(path, max_size=8192)
    sizes = []
    for i in range(500):
        writer.write("stdout", f"line {i}\n".encode())
        sizes.append(path.stat().st_size)
    writer.close()
    assert max(sizes) <= 8192
    assert any(after < before for before, after in itertools.pairwise(sizes))  # emptied
    lines = [line.content for line in read_lines(iter(path.read_bytes().splitlines(keepends=True)))]
    assert lines[-1] == b"line 499" and b"line 0" not in lines
    assert all(b"x" not in line for line in lines)


def test_a_read_bigger_than_the_size_limit_keeps_its_last_whole_entries(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    writer = LogWriter(path, max_size=8192)
    writer.write("stdout", b"".join(b"line %d\n" % i for i in range(2000)))
    writer.close()
    data = path.read_bytes()
    assert 8000 < len(data) <= 8192
    lines = [line.content for line in read_lines(iter(data.splitlines(keepends=True)))]
    assert lines[-1] == b"line 1999" and all(line.startswith(b"line ") for line in lines)
