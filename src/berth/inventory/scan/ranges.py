"""Whether a version is affected, as osv-schema ``docs/schema.md#evaluation`` says: a version is
in a range when the last event at or below it (in the scheme's order) is an ``introduced``;
``fixed`` and ``limit`` exclude their own version, ``last_affected`` includes it."""

from __future__ import annotations

from functools import cmp_to_key

from berth.inventory.scan.osv import Affected, Range
from berth.inventory.versions import Compare


def affected(version: str, entry: Affected, compare: Compare) -> tuple[bool, tuple[str, ...]]:
    """Whether ``version`` is affected by ``entry`` (its ``versions`` or an ECOSYSTEM or SEMVER
    range; GIT ranges name commits, not versions), and the versions above it that the ranges
    holding it say are fixed."""
    fixed: list[str] = []
    hit = False
    for item in entry.ranges:
        in_scheme = _compare_for(item, compare)
        if item.type != "GIT" and in_range(version, item, in_scheme):
            hit = True
            fixed.extend(v for kind, v in item.events if kind == "fixed" and in_scheme(v, version) > 0)
    listed = any(_equal(version, v, compare) for v in entry.versions)
    return hit or listed, tuple(fixed)


def _compare_for(entry: Range, compare: Compare) -> Compare:
    if entry.type == "SEMVER":
        from berth.inventory.versions import semver

        return semver.compare
    return compare


def _equal(a: str, b: str, compare: Compare) -> bool:
    from berth.inventory.versions import VersionError

    try:
        return compare(a, b) == 0
    except VersionError:
        return a == b


def in_range(version: str, entry: Range, compare: Compare) -> bool:
    """Whether ``version`` falls in the range's events."""

    def by_version(a: tuple[str, str], b: tuple[str, str]) -> int:
        # An introduced "0" comes first: it stands for the lowest version of any scheme.
        if a[1] == "0" and a[0] == "introduced":
            return -1 if b != a else 0
        if b[1] == "0" and b[0] == "introduced":
            return 1
        return compare(a[1], b[1])

    limits = [v for kind, v in entry.events if kind == "limit"]
    if limits and not any(v == "*" or compare(version, v) < 0 for v in limits):
        return False
    state = False
    events = [event for event in entry.events if event[0] != "limit"]
    for kind, bound in sorted(events, key=cmp_to_key(by_version)):
        if kind == "introduced" and (bound == "0" or compare(version, bound) >= 0):
            state = True
        elif kind in ("fixed", "last_affected"):
            # fixed: the bound itself is no longer affected; last_affected: it still is.
            beyond = compare(version, bound)
            if beyond > 0 or (beyond == 0 and kind == "fixed"):
                state = False
    return state
