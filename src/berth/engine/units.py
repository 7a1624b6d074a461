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
