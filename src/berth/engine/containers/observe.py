"""Watching containers: ``logs`` (with ``--follow``), ``top`` and ``stats``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from berth.engine.containers.logs import LogLine, parse_entry, read_lines, tail
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine, container_cgroup_path, pid_alive
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.errors import InvalidState

_FOLLOW_POLL_S = 0.05


class TimeWindow:
    """``logs --since``/``--until``: log timestamps (one fixed format, so strings compare as times)."""

    def __init__(self, since: str | None = None, until: str | None = None) -> None:
        self.since = since
        self.until = until

    def __contains__(self, stamp: str) -> bool:
        return (self.since is None or stamp >= self.since) and (self.until is None or stamp <= self.until)


_ALWAYS = TimeWindow()


def _entries_output(
    entries: list[bytes], timestamps: bool, at_line_start: dict[str, bool], window: TimeWindow
) -> Iterator[tuple[int, bytes]]:
    for entry in entries:
        stamp, stream, full, content = parse_entry(entry)
        if stamp not in window:
            continue
        prefix = f"{stamp} ".encode() if timestamps and at_line_start.get(stream, True) else b""
        yield (1 if stream == "stdout" else 2), prefix + content + (b"\n" if full else b"")
        at_line_start[stream] = full


def _lines_output(lines: list[LogLine], timestamps: bool) -> Iterator[tuple[int, bytes]]:
    for line in lines:
        prefix = f"{line.timestamp} ".encode() if timestamps else b""
        yield (1 if line.stream == "stdout" else 2), prefix + line.content + (b"\n" if line.complete else b"")


def log_output(
    engine: Engine,
    ref: str,
    follow: bool,
    tail_lines: int | None = None,
    timestamps: bool = False,
    window: TimeWindow = _ALWAYS,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[int, bytes]]:
    """The container's logged output (within ``window``) as (1 for stdout or 2 for stderr, bytes);
    with ``follow``, until its monitor ends or ``cancelled()`` (asked between polls: a reader that
    went away) is true."""
    record = engine.db.container(ref)
    if record.config["options"].get("log_driver") == "none":
        # podman's words
        raise InvalidState("this container is using the 'none' log driver, cannot read logs")
    path = engine.paths(record.id).log
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        if not follow:
            return
        fh = None
    pending = b""
    at_line_start: dict[str, bool] = {}
    if fh is not None:
        data = fh.read()
        if not follow:
            fh.close()
        complete, _, pending = data.rpartition(b"\n")
        entries = [e + b"\n" for e in complete.split(b"\n")] if complete else []
        if tail_lines is not None:
            lines = [line for line in read_lines(iter(entries)) if line.timestamp in window]
            yield from _lines_output(tail(lines, tail_lines), timestamps)
            at_line_start = {}
        else:
            yield from _entries_output(entries, timestamps, at_line_start, window)
    if not follow:
        return
    monitor_pid = refresh(engine, record).monitor_pid
    engine.close()
    try:
        while True:
            alive = pid_alive(monitor_pid)
            if fh is None and path.exists():
                fh = path.open("rb")
            data = fh.read() if fh is not None else b""
            if data:
                complete, _, rest = (pending + data).rpartition(b"\n")
                pending = rest
                if complete:
                    entries = [e + b"\n" for e in complete.split(b"\n")]
                    yield from _entries_output(entries, timestamps, at_line_start, window)
                continue
            if not alive or cancelled():
                break
            time.sleep(_FOLLOW_POLL_S)
    finally:
        if fh is not None:
            fh.close()


def cgroup_dir(engine: Engine, record: ContainerRecord, controller: str) -> Path:
    """The container's cgroup directory of ``controller`` (cgroup v1), or its unified one (v2)."""
    rel = container_cgroup_path(engine.config.cgroup_parent, record).lstrip("/")
    v1 = Path("/sys/fs/cgroup", controller, rel)
    return v1 if v1.is_dir() else Path("/sys/fs/cgroup", rel)


def container_pids(engine: Engine, record: ContainerRecord) -> list[int]:
    """Every process in the container's cgroup."""
    procs = cgroup_dir(engine, record, "pids") / "cgroup.procs"
    try:
        return sorted(int(p) for p in procs.read_text().split())
    except OSError:
        return []


def _read_int(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def top(engine: Engine, ref: str) -> tuple[list[str], list[list[Any]]]:
    """``top``: the container's processes as (headers, rows)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running")
    rows = []
    for pid in container_pids(engine, record):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = fields.get("Uid", "0").split()[0]
        ppid = fields.get("PPid", "0").strip()
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip() or fields["Name"].strip()
        rows.append([uid, pid, ppid, command])
    return ["UID", "PID", "PPID", "COMMAND"], rows


def stats(engine: Engine, ref: str) -> dict[str, Any]:
    """One sample of the container's CPU, memory and process count, from its cgroups."""
    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running")
    before, t0 = cgroup_sample(engine, record)["cpu_ns"], time.monotonic()
    time.sleep(0.1)
    sample, t1 = cgroup_sample(engine, record), time.monotonic()
    return {
        "id": record.id,
        "name": record.name,
        "cpu_percent": 100.0 * (sample["cpu_ns"] - before) / ((t1 - t0) * 1e9),
        **sample,
    }


def cgroup_sample(engine: Engine, record: ContainerRecord) -> dict[str, int]:
    """The container's cgroup counters now: ``cpu_ns`` (CPU time used), ``mem_usage``,
    ``mem_limit`` (0: none) and ``pids``, from cgroup v1 or v2 files."""
    mem = cgroup_dir(engine, record, "memory")
    usage_file = mem / "memory.usage_in_bytes"
    limit_file = mem / "memory.limit_in_bytes"
    if not usage_file.exists():
        usage_file, limit_file = mem / "memory.current", mem / "memory.max"
    limit = _read_int(limit_file)
    if limit >= 1 << 60:
        limit = 0  # "unlimited" in v1 is a huge page-aligned number
    cpu = cgroup_dir(engine, record, "cpuacct")
    return {
        "cpu_ns": _cpu_ns(cpu / "cpuacct.usage", cpu),
        "mem_usage": _read_int(usage_file),
        "mem_limit": limit,
        "pids": _read_int(cgroup_dir(engine, record, "pids") / "pids.current"),
    }


def _cpu_ns(v1_file: Path, v2_dir: Path) -> int:
    if v1_file.exists():
        return _read_int(v1_file)
    try:
        for line in (v2_dir / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) * 1000
    except OSError:
        pass
    return 0
