"""Device cgroup rules (runtime-spec config-linux.md#allowed-device-list) as cgroup v1 writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.runtime.linux.cgroups.files import Write
from berth.runtime.linux.cgroups.limits import boolean, fail, integer

_TYPES = {"a", "b", "c"}


def _rule(entry: Mapping[str, Any], field: str) -> tuple[bool, str]:
    allow = boolean(entry, "allow", f"{field}.allow")
    if allow is None:
        raise fail(f"{field}.allow", "is required")
    kind = entry.get("type") or "a"
    if kind not in _TYPES:
        raise fail(f"{field}.type", f"{kind!r} is not one of a, b, c")
    access = entry.get("access") or "rwm"
    if not isinstance(access, str) or not set(access) <= set("rwm"):
        raise fail(f"{field}.access", f"{access!r} is not a combination of r, w, m")
    major = integer(entry, "major", f"{field}.major", -1, 2**32 - 1)
    minor = integer(entry, "minor", f"{field}.minor", -1, 2**32 - 1)
    if kind == "a":  # the kernel reads "a" alone as every device, whatever numbers follow
        return allow, "a"
    maj = "*" if major is None or major == -1 else str(major)
    mnr = "*" if minor is None or minor == -1 else str(minor)
    return allow, f"{kind} {maj}:{mnr} {''.join(sorted(set(access), key='rwm'.index))}"


def v1_writes(rules: Sequence[Mapping[str, Any]]) -> list[Write]:
    """devices.allow / devices.deny writes, in the config's order.

    The kernel keeps a default (allow or deny everything) plus exceptions; writing ``a`` to one file
    sets that default and clears the exceptions, and later writes adjust single devices, so applying
    the rules in order gives the spec's "last matching rule wins".
    """
    writes = []
    for i, entry in enumerate(rules):
        allow, text = _rule(entry, f"devices[{i}]")
        writes.append(Write("devices", "devices.allow" if allow else "devices.deny", text, f"devices[{i}]"))
    return writes


def allows_everything(rules: Sequence[Mapping[str, Any]]) -> bool:
    """True when the rules leave every device usable: none at all, or ending in an allow-all rule."""
    for i, entry in enumerate(rules):
        _rule(entry, f"devices[{i}]")  # reject malformed rules whatever the verdict
    if not rules:
        return True
    last = rules[-1]
    return (
        last.get("allow") is True
        and (last.get("type") or "a") == "a"
        and set(last.get("access") or "rwm") == set("rwm")
    )
