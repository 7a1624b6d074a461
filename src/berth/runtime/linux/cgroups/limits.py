"""Typed, range-checked reads of runtime-spec ``linux.resources`` fields (config-linux.md).

Every check happens before the first write, so a bad value leaves the cgroup untouched, and every
error names the field as the config spells it (``linux.resources.memory.swappiness: ...``).
"""

from __future__ import annotations

from _collections_abc import Mapping  # collections.abc would import collections (~2 ms)

from berth.errors import InvalidArgument
from berth.spec.runtime_config import parse_cpu_list

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1

# Kernel bounds (kernel/sched/core.c, block/blk-cgroup.c): shares 2..2^18, CFS period 1ms..1s,
# quota at least 1ms, block-IO weight 10..1000.
MIN_SHARES, MAX_SHARES = 2, 262144
MIN_PERIOD, MAX_PERIOD = 1000, 1000000
MIN_QUOTA = 1000
MIN_WEIGHT, MAX_WEIGHT = 10, 1000


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def fail(field: str, problem: str) -> InvalidArgument:
    """The error for a bad ``linux.resources`` value."""
    return InvalidArgument(f"linux.resources.{field}: {problem}")


def section(resources: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A sub-object such as ``memory``; missing or null gives ``{}``."""
    value = resources.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(key, "must be an object")
    return value


def items(resources: Mapping[str, Any], key: str, field: str) -> Sequence[Mapping[str, Any]]:
    """An array of objects such as ``devices``; missing or null gives ``[]``."""
    value = resources.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise fail(field, "must be an array of objects")
    return value


def integer(obj: Mapping[str, Any], key: str, field: str, lo: int, hi: int) -> int | None:
    """``obj[key]`` as an int in ``lo..hi``, or None when absent."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise fail(field, f"{value} is out of range ({lo}..{hi})")
    return value


def required_integer(obj: Mapping[str, Any], key: str, field: str, lo: int, hi: int) -> int:
    """Like ``integer`` for a field the spec marks REQUIRED."""
    value = integer(obj, key, field, lo, hi)
    if value is None:
        raise fail(field, "is required")
    return value


def boolean(obj: Mapping[str, Any], key: str, field: str) -> bool | None:
    """``obj[key]`` as a bool, or None when absent."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise fail(field, f"must be true or false, not {value!r}")


def cpu_list(obj: Mapping[str, Any], key: str, field: str) -> str | None:
    """A cpuset list such as ``0-3,7``; None when absent or empty."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise fail(field, f"{value!r} is not a list such as '0-3,7'")
    parse_cpu_list(value, f"linux.resources.{field}")
    return value.strip()


def cpu_shares_quota_period(cpu: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """``cpu.shares``, ``cpu.quota`` and ``cpu.period`` checked against the kernel's bounds (both
    cgroup versions take the same v1 values)."""
    shares = integer(cpu, "shares", "cpu.shares", 0, MAX_SHARES)
    if shares is not None and 0 < shares < MIN_SHARES:
        raise fail("cpu.shares", f"{shares} is out of range ({MIN_SHARES}..{MAX_SHARES})")
    quota = integer(cpu, "quota", "cpu.quota", -1, INT64_MAX // 1000)
    if quota is not None and 0 <= quota < MIN_QUOTA:
        raise fail("cpu.quota", f"{quota} is below the kernel's minimum of {MIN_QUOTA} microseconds (or -1)")
    period = integer(cpu, "period", "cpu.period", 0, MAX_PERIOD)
    if period and period < MIN_PERIOD:
        raise fail("cpu.period", f"{period} is out of range ({MIN_PERIOD}..{MAX_PERIOD})")
    return shares, quota, period


def block_io_weight(obj: Mapping[str, Any], key: str, field: str) -> int | None:
    """A block-IO ``weight`` or ``leafWeight`` in v1's 10..1000 (0 or absent: unset)."""
    value = integer(obj, key, field, 0, MAX_WEIGHT)
    if value and value < MIN_WEIGHT:
        raise fail(field, f"{value} is out of range ({MIN_WEIGHT}..{MAX_WEIGHT})")
    return value


def page_size(obj: Mapping[str, Any], field: str) -> str:
    """A hugetlb ``pageSize`` such as ``2MB``."""
    value = obj.get("pageSize")
    if not isinstance(value, str) or not value.endswith("B"):
        raise fail(field, f"pageSize {value!r} is not a size such as '2MB'")
    number = value[:-1].rstrip("KMGTP")
    if not _is_number(number) or len(value) - len(number) > 2:
        raise fail(field, f"pageSize {value!r} is not a size such as '2MB'")
    return value


def device_number(entry: Mapping[str, Any], field: str) -> str:
    """``major:minor`` of a blockIO device entry (both REQUIRED)."""
    major = required_integer(entry, "major", f"{field}.major", 0, UINT32_MAX)
    minor = required_integer(entry, "minor", f"{field}.minor", 0, UINT32_MAX)
    return f"{major}:{minor}"


def limit_text(value: int) -> str:
    """-1 (unlimited) written the way both cgroup versions accept for byte limits."""
    return "-1" if value == -1 else str(value)
