"""Device cgroup rules (runtime-spec config-linux.md#allowed-device-list): parsed, and as v1 writes."""

from __future__ import annotations

from berth.runtime.linux.cgroups.files import Write
from berth.runtime.linux.cgroups.limits import boolean, fail, integer

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_TYPES = {"a", "b", "c"}


class DeviceRule:
    """One entry of ``linux.resources.devices``; ``None`` numbers are wildcards."""

    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, allow: bool, type: str, major: int | None, minor: int | None, access: str) -> None:
        self.allow = allow
        self.type = type  # "a" (every device), "b" or "c"
        self.major = major
        self.minor = minor
        self.access = access  # a subset of "rwm", in that order

    def v1_text(self) -> str:
        """The line devices.allow / devices.deny take."""
        if self.type == "a":  # the kernel reads "a" alone as every device, whatever follows
            return "a"
        maj = "*" if self.major is None else str(self.major)
        mnr = "*" if self.minor is None else str(self.minor)
        return f"{self.type} {maj}:{mnr} {self.access}"


def parse_rule(entry: Mapping[str, Any], field: str) -> DeviceRule:
    """A checked ``DeviceRule``; errors name ``field`` (e.g. ``devices[2].type``)."""
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
    return DeviceRule(
        allow,
        kind,
        None if major in (None, -1) else major,
        None if minor in (None, -1) else minor,
        "".join(c for c in "rwm" if c in access),
    )


def parse_rules(rules: Sequence[Mapping[str, Any]]) -> list[DeviceRule]:
    """Every rule checked, in the config's order."""
    return [parse_rule(entry, f"devices[{i}]") for i, entry in enumerate(rules)]


def v1_writes(rules: Sequence[Mapping[str, Any]]) -> list[Write]:
    """devices.allow / devices.deny writes, in the config's order.

    The kernel keeps a default (allow or deny everything) plus exceptions; writing ``a`` to one file
    sets that default and clears the exceptions, and later writes adjust single devices, so applying
    the rules in order gives the spec's "last matching rule wins".
    """
    return [
        Write("devices", "devices.allow" if r.allow else "devices.deny", r.v1_text(), f"devices[{i}]")
        for i, r in enumerate(parse_rules(rules))
    ]


def allows_everything(rules: Sequence[DeviceRule]) -> bool:
    """True when the rules leave every device usable: none at all, or ending in an allow-all rule."""
    return not rules or (rules[-1].allow and rules[-1].type == "a")
