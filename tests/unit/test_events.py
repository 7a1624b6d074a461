"""The event log: its time format, filters, rotation, readers, and many writers at once."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth import events


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_time_format_round_trips(ns: int) -> None:
    text = events.format_time(ns)
    assert text.endswith("Z") and "T" in text
    assert events.parse_time(text) == pytest.approx(ns / 1e9, abs=1e-6)


def test_time_format_drops_trailing_zeros_as_go_does() -> None:
    assert events.format_time(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert events.format_time(2_000_000_000) == "1970-01-01T00:00:02Z"


def test_times_and_durations() -> None:
    assert events.parse_time("2026-12-06T22:04:13+01:00") == events.parse_time("2026-12-06T21:04:13Z")
    assert events.parse_time("2026-12-06") == events.parse_time("2026-12-06T00:00:00Z")
    assert events.parse_moment("1700000000", 0) == 1_700_000_000
    assert events.parse_moment("1h30m", 10_000) == 10_000 - 5400
    assert events.parse_moment("250ms", 1) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        events.parse_moment("yesterday", 0)


@given(st.text(max_size=40))
def test_moment_parser_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        events.parse_moment(text, 0)


def test_event_keys_follow_podman() -> None:
    died = events.make_event("container", "died", ID="abc", Name="web", Image="img", ContainerExitCode=3)
    assert list(died) == ["ContainerExitCode", "ID", "Image", "Name", "Status", "Time", "Type", "Attributes"]
    assert died["Attributes"] == {}
    pulled = events.make_event("image", "pull", Name="busybox")
    assert list(pulled) == ["Name", "Status", "Time", "Type", "Attributes"] and pulled["Attributes"] is None


def test_filters() -> None:
    ctr = events.make_event("container", "start", ID="abc123", Name="web", Image="img:1", PodID="pod9",
                            Attributes={"app": "x"})  # fmt: skip
    img = events.make_event("image", "pull", Name="img:1")
    assert events.matches(ctr, {"container": ["web"]}) and events.matches(ctr, {"container": ["abc"]})
    assert not events.matches(img, {"container": ["web"]})
    assert events.matches(ctr, {"event": ["stop", "start"], "type": ["container"]})
    assert not events.matches(ctr, {"event": ["stop"], "type": ["container"]})
    assert events.matches(ctr, {"label": ["app=x"]}) and events.matches(ctr, {"label": ["app"]})
    assert not events.matches(ctr, {"label": ["app=y"]})
    assert events.matches(ctr, {"image": ["img"]}) and events.matches(img, {"image": ["img:1"]})
    assert events.matches(ctr, {"pod": ["pod9"]})


def test_log_rotates_and_readers_read_both_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_LOG_BYTES", 2000)
    log = events.log_path(tmp_path)
    for i in range(40):
        events.emit(log, "volume", "create", Name=f"v{i}")
    assert Path(log + ".1").exists() and Path(log).stat().st_size <= 2000 + 200
    names = [e["Name"] for e in events.read_events(log)]
    assert names == [f"v{i}" for i in range(40)][-len(names) :]  # oldest dropped, order kept
    assert len(names) > 10


def test_torn_lines_are_skipped(tmp_path: Path) -> None:
    log = events.log_path(tmp_path)
    events.emit(log, "volume", "create", Name="a")
    with open(log, "a") as fh:
        fh.write('{"Name": "tor')  # a writer killed mid-line
        fh.write("\n")
    events.emit(log, "volume", "create", Name="b")
    assert [e["Name"] for e in events.read_events(log)] == ["a", "b"]


def test_unwritable_log_warns_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "events").write_text("not a directory")
    events.emit(events.log_path(tmp_path), "volume", "create", Name="a")
    assert "cannot write event" in capsys.readouterr().err


def _write_many(log: str, tag: int, count: int) -> None:
    for i in range(count):
        events.emit(log, "container", "create", ID=f"{tag}-{i}", Name="x" * 300)


def test_no_event_is_lost_with_many_writers_and_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_LOG_BYTES", 10**9)
    log = events.log_path(tmp_path)
    procs = [
        multiprocessing.get_context("fork").Process(target=_write_many, args=(log, t, 200)) for t in range(20)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    ids = [e["ID"] for e in events.read_events(log)]
    assert sorted(ids) == sorted(f"{t}-{i}" for t in range(20) for i in range(200))
    assert all(json.loads(line) for line in Path(log).read_text().splitlines())


def test_follow_sees_new_events_across_a_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_LOG_BYTES", 1500)
    log = events.log_path(tmp_path)
    events.emit(log, "volume", "create", Name="before")
    seen: list[str] = []

    def reader() -> None:
        for event in events.follow_events(log, poll=0.01, deadline=time.time() + 20):
            seen.append(event["Name"])
            if event["Name"] == "last":
                return

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(30):  # rotates a few times
        events.emit(log, "volume", "create", Name=f"v{i}")
        time.sleep(0.005)
    events.emit(log, "volume", "create", Name="last")
    thread.join(timeout=30)
    assert seen[0] == "before" and seen[-1] == "last"
    assert [n for n in seen if n.startswith("v")] == [f"v{i}" for i in range(30)]
