"""Container logs in the CRI log format, as kubelet, CRI-O and podman's k8s-file driver write them.

Each line is ``<RFC3339Nano timestamp> <stream> <P|F> <content>``: ``stream`` is ``stdout`` or
``stderr``; ``F`` ends a line of the container's output, ``P`` carries a part of a line whose end
comes in a later entry (written when a read ends mid-line, so ``logs -f`` shows prompts at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from berth.engine.units import duration_ns
from berth.spec.records import record


def rfc3339_nano(ns: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 with nine fraction digits, in UTC."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def format_entries(stream: str, data: bytes, now_ns: int) -> bytes:
    """CRI log lines for one chunk of output read from ``stream``."""
    stamp = rfc3339_nano(now_ns).encode()
    tag = stream.encode()
    out = []
    parts = data.split(b"\n")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last and not part:
            break  # the chunk ended with a newline
        out.append(b"%s %s %s %s\n" % (stamp, tag, b"P" if last else b"F", part))
    return b"".join(out)


class LogWriter:
    """Appends a container's output to its log file; with ``max_size`` (bytes), empties the file
    first whenever an entry would take it past that size (podman's ``--log-opt max-size`` for its
    k8s-file driver, which conmon enforces the same way), so the log never exceeds it."""

    def __init__(self, path: Path, max_size: int = 0) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.max_size = max_size
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        """Record ``data`` read from ``stream`` now."""
        entries = format_entries(stream, data, time.time_ns())
        if self.max_size and self.size + len(entries) > self.max_size:
            os.ftruncate(self.fd, 0)  # O_APPEND: the next write lands at the new end
            self.size = 0
            if len(entries) > self.max_size:  # one read bigger than the limit: its last whole entries
                cut = len(entries) - self.max_size
                if entries[cut - 1 : cut] != b"\n":
                    cut = entries.index(b"\n", cut) + 1
                entries = entries[cut:]
        os.write(self.fd, entries)
        self.size += len(entries)

    def close(self) -> None:
        """Flush to disk (unless the log was removed meanwhile, with its ``--rm`` container) and
        close."""
        if os.fstat(self.fd).st_nlink:
            os.fsync(self.fd)
        os.close(self.fd)


@record(frozen=True)
class LogLine:
    """One line of output put back together from its ``P`` parts and final ``F`` entry."""

    timestamp: str
    stream: str
    content: bytes
    complete: bool


def parse_entry(line: bytes) -> tuple[str, str, bool, bytes]:
    """Split one CRI log entry into (timestamp, stream, is_full, content); raises ValueError if malformed."""
    stamp, stream, tag, content = line.rstrip(b"\n").split(b" ", 3) if line.count(b" ") >= 3 else (b"",) * 4
    if tag not in (b"P", b"F") or stream not in (b"stdout", b"stderr"):
        raise ValueError(f"malformed CRI log entry: {line[:80]!r}")
    return stamp.decode(), stream.decode(), tag == b"F", content


def read_lines(chunks: Iterator[bytes]) -> Iterator[LogLine]:
    """Whole lines of output from CRI log entries, joining partial entries per stream."""
    pending: dict[str, tuple[str, bytes]] = {}
    for entry in chunks:
        stamp, stream, full, content = parse_entry(entry)
        first_stamp, before = pending.pop(stream, (stamp, b""))
        if full:
            yield LogLine(first_stamp, stream, before + content, True)
        else:
            pending[stream] = (first_stamp, before + content)
    for stream, (stamp, content) in pending.items():
        yield LogLine(stamp, stream, content, False)


def parse_log_time(text: str, now_ns: int) -> str:
    """``logs --since``/``--until`` as a log timestamp (RFC 3339, nine fraction digits, UTC), from
    what podman takes: RFC 3339 (``2026-11-25T10:00:00Z``; without an offset, local time), a date,
    Unix seconds (``1764000000.5``), or a Go duration before now (``10m``, ``1h30m``, ``500ms``).

    Log timestamps are all written in that one format, so comparing the strings orders the times.
    """
    value = text.strip()
    whole, dot, fraction = value.partition(".")
    if whole.isdigit() and (not dot or fraction.isdigit()):
        return rfc3339_nano(int(whole) * 1_000_000_000 + int((fraction + "0" * 9)[:9] or "0"))
    duration = duration_ns(value)
    if duration is not None:
        return rfc3339_nano(now_ns - duration)
    return rfc3339_nano(_iso_ns(value, text))


def _iso_ns(value: str, text: str) -> int:
    from datetime import UTC, datetime, timedelta

    from berth.errors import InvalidArgument

    # datetime takes six fraction digits at most and log times have nine: the fraction is added apart.
    fraction_ns = 0
    date, sep, rest = value.partition("T")
    clock, dot, after = rest.partition(".")
    if sep and dot:
        digits = after[: len(after) - len(after.lstrip("0123456789"))]
        fraction_ns = int((digits + "0" * 9)[:9]) if digits else 0
        value = f"{date}T{clock}{after[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            f"{text!r} is not a time: expected RFC 3339, Unix seconds, or a duration such as 10m"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as podman reads a time without an offset
    seconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + fraction_ns


def tail(lines: list[LogLine], count: int | None) -> list[LogLine]:
    """The last ``count`` lines (all of them when ``count`` is None or negative)."""
    if count is None or count < 0:
        return lines
    return lines[len(lines) - count :] if count else []
