"""OSV records (the Open Source Vulnerability schema, ossf/osv-schema ``docs/schema.md``), read
and checked field by field: a record that does not validate is refused with one line naming its
file and the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from berth.errors import BerthError

#: schema.md#affectedranges: the range types and event kinds.
RANGE_TYPES = ("GIT", "SEMVER", "ECOSYSTEM")
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
#: schema.md#severity: the scoring systems.
SEVERITY_TYPES = ("CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu")
#: schema.md: timestamps are RFC 3339 date-times in UTC.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$")


class InvalidRecord(BerthError):
    """An OSV record that does not validate (the message names the file and the field)."""


@dataclass(frozen=True, slots=True)
class Severity:
    """One ``severity`` entry: the scoring system and its score (a CVSS vector, or a word)."""

    type: str
    score: str


@dataclass(frozen=True, slots=True)
class Range:
    """``affected[].ranges[]``: its type and events, each (kind, version) in record order."""

    type: str
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Affected:
    """``affected[]``: a package of an ecosystem, the ranges and versions of it that are affected."""

    ecosystem: str
    name: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    severity: tuple[Severity, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """A vulnerability: ``source`` is the file it was read from; ``database_severity`` the
    ``database_specific.severity`` word some databases (GitHub's) give."""

    id: str
    modified: str
    source: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    withdrawn: str = ""
    severity: tuple[Severity, ...] = ()
    database_severity: str = ""
    affected: tuple[Affected, ...] = ()


class _Checker:
    """Reads fields of a JSON value, naming the file and the field in every complaint."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> InvalidRecord:
        return InvalidRecord(f"{self.source}: {where}: {problem}")

    def get(self, obj: dict[str, Any], key: str, kind: type, where: str, required: bool = False) -> Any:
        path = f"{where}.{key}" if where else key
        if key not in obj:
            if required:
                raise self.fail(path, "missing")
            return kind()
        value = obj[key]
        if not isinstance(value, kind):
            raise self.fail(path, f"not a JSON {_JSON_NAMES[kind]}")
        return value

    def timestamp(self, obj: dict[str, Any], key: str, required: bool = False) -> str:
        value: str = self.get(obj, key, str, "", required)
        if value and not _TIMESTAMP.match(value):
            raise self.fail(key, f"{value!r} is not an RFC 3339 UTC timestamp")
        return value

    def strings(self, obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        values = self.get(obj, key, list, where)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{where + '.' if where else ''}{key}[{index}]", "not a JSON string")
        return tuple(values)

    def objects(self, obj: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
        values = self.get(obj, key, list, where)
        found = []
        for index, value in enumerate(values):
            path = f"{where + '.' if where else ''}{key}[{index}]"
            if not isinstance(value, dict):
                raise self.fail(path, "not a JSON object")
            found.append((path, value))
        return found


_JSON_NAMES: dict[type, str] = {str: "string", list: "array", dict: "object"}


def parse_record(value: object, source: str) -> Record:
    """The record ``value`` (a parsed JSON document) holds; ``InvalidRecord`` naming ``source`` and
    the field if it does not follow the OSV schema."""
    check = _Checker(source)
    if not isinstance(value, dict):
        raise check.fail("(document)", "not a JSON object")
    record_id = check.get(value, "id", str, "", required=True)
    if not record_id:
        raise check.fail("id", "empty")
    database = check.get(value, "database_specific", dict, "")
    check.timestamp(value, "published")
    return Record(
        id=record_id,
        modified=check.timestamp(value, "modified", required=True),
        source=source,
        summary=check.get(value, "summary", str, ""),
        aliases=check.strings(value, "aliases", ""),
        withdrawn=check.timestamp(value, "withdrawn"),
        severity=_severities(check, value, ""),
        database_severity=database.get("severity", "") if isinstance(database.get("severity"), str) else "",
        affected=tuple(_affected(check, path, item) for path, item in check.objects(value, "affected", "")),
    )


def _severities(check: _Checker, obj: dict[str, Any], where: str) -> tuple[Severity, ...]:
    found = []
    for path, item in check.objects(obj, "severity", where):
        kind = check.get(item, "type", str, path, required=True)
        if kind not in SEVERITY_TYPES:
            raise check.fail(f"{path}.type", f"{kind!r} is not one of {', '.join(SEVERITY_TYPES)}")
        found.append(Severity(kind, check.get(item, "score", str, path, required=True)))
    return tuple(found)


def _affected(check: _Checker, where: str, item: dict[str, Any]) -> Affected:
    package = check.get(item, "package", dict, where, required=True)
    ranges = []
    for path, entry in check.objects(item, "ranges", where):
        kind = check.get(entry, "type", str, path, required=True)
        if kind not in RANGE_TYPES:
            raise check.fail(f"{path}.type", f"{kind!r} is not one of {', '.join(RANGE_TYPES)}")
        if kind == "GIT":
            check.get(entry, "repo", str, path, required=True)
        ranges.append(Range(kind, _events(check, path, entry)))
    return Affected(
        ecosystem=check.get(package, "ecosystem", str, f"{where}.package", required=True),
        name=check.get(package, "name", str, f"{where}.package", required=True),
        ranges=tuple(ranges),
        versions=check.strings(item, "versions", where),
        severity=_severities(check, item, where),
    )


def _events(check: _Checker, where: str, entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    events = check.objects(entry, "events", where)
    if not events:
        raise check.fail(f"{where}.events", "no events")
    found = []
    for path, event in events:
        # schema.md#affectedrangesevents: each event is exactly one of the four kinds.
        if len(event) != 1 or next(iter(event)) not in EVENT_KINDS:
            raise check.fail(path, f"not exactly one of {', '.join(EVENT_KINDS)}")
        kind, version = next(iter(event.items()))
        if not isinstance(version, str) or not version:
            raise check.fail(f"{path}.{kind}", "not a non-empty JSON string")
        found.append((kind, version))
    if not any(kind == "introduced" for kind, _ in found):
        raise check.fail(f"{where}.events", "no introduced event")
    return tuple(found)
