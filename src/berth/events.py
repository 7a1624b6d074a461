"""The event log: every lifecycle action Berth takes, one JSON line each.

Each line is an event as ``podman events --format json`` prints it (``ID``, ``Image``, ``Name``,
``Status``, ``Time``, ``Type``, ``PodID``, ``ContainerExitCode``, ``Attributes``), so tools that read
podman's file-backed log read Berth's. Many ``berth`` processes write at once: each event is one
``write`` to a file opened with ``O_APPEND``, which the kernel appends whole, so lines never
interleave and no lock is taken on the hot path. When the log outgrows ``MAX_LOG_BYTES`` it is
renamed to ``events.log.1`` (the previous one dropped) under a lock, so two writers never rotate
twice; a writer still holding the renamed file appends there, and readers read both files.

Only the standard library: the runtime's layers below the engine and the engine's monitor write
events too, and importing this module must cost nothing measurable.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

#: Past this size the log is rotated (podman's ``events_logfile_max_size`` default, 1 MB).
MAX_LOG_BYTES = 1_000_000
#: Event types (podman's), and the order of an event's keys in the log and in ``--format json``.
TYPES = ("container", "image", "pod", "volume", "network", "system", "signature", "admission")
_KEYS = (
    *("ContainerExitCode", "ID", "Image", "Name", "Network", "Status", "Time", "Type", "HealthStatus"),
    *("PodID", "Attributes"),
)


def log_path(root: str | os.PathLike[str]) -> str:
    """The event log of the Berth storage root ``root``."""
    return os.path.join(root, "events", "events.log")


def format_time(ns: int) -> str:
    """``ns`` (nanoseconds since the epoch) as Go's RFC 3339 with nanoseconds, in UTC, trailing zeros
    of the fraction dropped (what podman writes)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (``2026-12-06T22:04:13.78973Z``, ``+01:00``
    offsets, a date alone); ``ValueError`` if ``text`` is not one."""
    import calendar

    date, _, clock = text.replace(" ", "T", 1).partition("T")
    offset = 0.0
    if clock.endswith(("Z", "z")):
        clock = clock[:-1]
    elif len(clock) > 6 and clock[-6] in "+-" and clock[-3] == ":":
        sign = -1 if clock[-6] == "-" else 1
        offset = sign * (int(clock[-5:-3]) * 3600 + int(clock[-2:]) * 60)
        clock = clock[:-6]
    whole, _, fraction = clock.partition(".")
    parsed = time.strptime(f"{date}T{whole or '00:00:00'}", "%Y-%m-%dT%H:%M:%S")
    if fraction and not fraction.isdigit():
        raise ValueError(f"bad fraction of a second in {text!r}")
    return calendar.timegm(parsed) - offset + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def make_event(type_: str, status: str, **fields: Any) -> dict[str, Any]:
    """An event of ``type_`` and ``status`` (``create``, ``died``...) stamped now, with podman's keys
    from ``fields`` (``ID``, ``Name``, ``Image``, ``PodID``, ``ContainerExitCode``, ``Attributes``);
    keys with no value are left out as podman leaves them, ``Attributes`` excepted."""
    fields.update(Status=status, Time=format_time(time.time_ns()), Type=type_)
    event = {k: fields[k] for k in _KEYS if fields.get(k) not in (None, "")}
    event["Attributes"] = fields.get("Attributes") or (None if type_ != "container" else {})
    return event


def emit(log: str, type_: str, status: str, **fields: Any) -> None:
    """Append one event to the log at ``log`` (see ``make_event``). A log that cannot be written
    costs a warning, never the action it records."""
    line = json.dumps(make_event(type_, status, **fields), separators=(",", ":")) + "\n"
    try:
        size = append_line(log, line.encode())
        if size > MAX_LOG_BYTES:
            _rotate(log)
    except OSError as err:
        sys.stderr.write(f"berth: warning: cannot write event to {log}: {err.strerror}\n")


def append_line(log: str | os.PathLike[str], data: bytes) -> int:
    """Append ``data`` (one whole line) to the file ``log``, making its directory if need be, in one
    ``write`` so that concurrent writers never interleave; the file's size after it."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(log, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(log), 0o700, exist_ok=True)
        fd = os.open(log, flags, 0o600)
    try:
        os.write(fd, data)  # one write with O_APPEND: appended whole, never interleaved
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _rotate(log: str) -> None:
    from berth.fsutil import locked

    with locked(log + ".lock"):
        try:
            if os.stat(log).st_size <= MAX_LOG_BYTES:
                return  # another writer rotated it while this one waited
        except FileNotFoundError:
            return
        os.replace(log, log + ".1")


def parse_lines(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``lines``; a torn or foreign line is skipped."""
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash mid-write, or not an event
        if isinstance(event, dict):
            yield event


def read_events(log: str) -> Iterator[dict[str, Any]]:
    """Every event in the log at ``log``, oldest first (the rotated file's, then the current's)."""
    return _events(log, follow=False)


def follow_events(
    log: str, poll: float = 0.1, deadline: float | None = None, cancelled: Callable[[], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """Every event in the log at ``log``, oldest first, then each new one as it is written, until
    ``deadline`` (seconds since the epoch; forever without one) or ``cancelled()`` (asked while
    waiting: a reader that went away) is true. A rotation is followed to the new file once the old
    one is read to its end."""
    return _events(log, follow=True, poll=poll, deadline=deadline, cancelled=cancelled)


def _events(
    log: str,
    follow: bool,
    poll: float = 0.1,
    deadline: float | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    fh = _open(log)
    try:
        # The rotated file first, unless a rotation since the open made it the file already held.
        current = os.fstat(fh.fileno()).st_ino if fh is not None else None
        yield from _rotated_unless(log, current)
        pending = b""
        while True:
            chunk = fh.read() if fh is not None else b""
            if chunk:
                *complete, pending = (pending + chunk).split(b"\n")
                yield from parse_lines(complete)
                continue
            if not follow or (deadline is not None and time.time() > deadline):
                return
            if cancelled is not None and cancelled():
                return
            try:
                rotated = os.stat(log).st_ino != current
            except FileNotFoundError:
                rotated = False
            if rotated:  # everything of the old file is read: go on in the new one
                if fh is not None:
                    fh.close()
                yield from _rotated_unless(log, current)  # rotated twice while this one read
                fh, pending = _open(log), b""
                current = os.fstat(fh.fileno()).st_ino if fh is not None else None
                continue
            time.sleep(poll)
    finally:
        if fh is not None:
            fh.close()


def _rotated_unless(log: str, inode: int | None) -> Iterator[dict[str, Any]]:
    """The events of the rotated file, unless it is the file ``inode`` (read already)."""
    try:
        with open(log + ".1", "rb") as old:
            if os.fstat(old.fileno()).st_ino != inode:
                yield from parse_lines(old)
    except FileNotFoundError:
        return


def _open(log: str) -> Any:
    try:
        return open(log, "rb")  # held across the generator's steps
    except FileNotFoundError:
        return None


#: ``--filter`` keys of ``berth events`` (podman's).
FILTER_KEYS = ("container", "event", "image", "label", "pod", "type", "volume", "network")


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Whether ``event`` passes ``filters`` (key -> values): any value of a key, every key."""
    return all(any(_matches_one(event, key, value) for value in values) for key, values in filters.items())


def _matches_one(event: dict[str, Any], key: str, value: str) -> bool:
    if key == "event":
        return bool(event.get("Status") == value)
    if key == "type":
        return bool(event.get("Type") == value)
    if key == "label":
        name, eq, wanted = value.partition("=")
        attributes = event.get("Attributes") or {}
        return name in attributes and (not eq or attributes[name] == wanted)
    if key == "image" and event.get("Type") == "container":
        return bool(event.get("Image") == value or str(event.get("Image", "")).startswith(value + ":"))
    if key == "pod" and event.get("Type") == "container":
        return bool(value and str(event.get("PodID", "")).startswith(value))
    if event.get("Type") != key:
        return False
    return bool(event.get("Name") == value or (value and str(event.get("ID", "")).startswith(value)))


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_moment(text: str, now: float) -> float:
    """``--since``/``--until``: seconds since the epoch of ``text``, which is Unix seconds, an RFC 3339
    time or date, or a Go duration before ``now`` (``10m``, ``1h30m``, ``2.5s``); ``ValueError``
    otherwise."""
    import re

    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if re.fullmatch(r"(\d+(\.\d+)?(h|ms|us|µs|ns|m|s))+", text):
        parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)", text)
        return now - sum(float(n) * _DURATION_UNITS[unit] for n, unit in parts)
    return parse_time(text)
