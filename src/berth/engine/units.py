"""Parsing of the human-friendly sizes and quantities the CLI accepts."""

from __future__ import annotations

import re

from berth.errors import InvalidArgument

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", re.IGNORECASE)
_FACTORS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in ``text`` such as ``64m``, ``1g``, ``512k`` or ``1048576`` (binary multiples)."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise InvalidArgument(
            f"invalid {what} {text!r}: want a number with an optional b, k, m, g or t suffix"
        )
    return int(float(match.group(1)) * _FACTORS[match.group(2).lower()])


_DURATION_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                      "m": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip


def duration_ns(text: str) -> int | None:
    """A Go duration (``1h30m``, ``2.5s``) in nanoseconds, or None if ``text`` is not one."""
    total, number, i = 0.0, "", 0
    if not text:
        return None
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "h", "m", "s") if text.startswith(u, i)), None)
        if unit is None or not number or number.count(".") > 1 or number == ".":
            return None
        total += float(number) * _DURATION_UNITS_NS[unit]
        number, i = "", i + len(unit)
    return None if number else int(total)


def parse_duration(text: str, what: str) -> float:
    """Seconds in a Go duration flag such as ``30s`` or ``1m30s`` (a bare number is seconds)."""
    value = text.strip()
    ns = duration_ns(value) if not value.replace(".", "", 1).isdigit() else int(float(value) * 1e9)
    if ns is None:
        raise InvalidArgument(f"invalid {what} {text!r}: want a duration such as 30s or 1m30s")
    return ns / 1e9


def parse_cpus(text: str) -> float:
    """A positive CPU count such as ``0.5`` or ``2``."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidArgument(f"invalid --cpus {text!r}: want a positive number")
    return value


def human_size(value: float) -> str:
    """``value`` bytes as podman prints sizes (``1.5MB``; decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.3g}{unit}"
        value /= 1000
    raise AssertionError("unreachable")
