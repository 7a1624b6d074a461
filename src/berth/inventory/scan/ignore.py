"""Accepted findings (``berth scan --ignore FILE``): a TOML file of ``[[ignore]]`` tables, each with
``id`` (a record id or alias), ``reason``, ``expires`` (a date) and optionally ``package`` (a
package name; without it the entry covers every package). An expired entry no longer hides its
findings, and the scan says so."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument
from berth.inventory.scan.match import Finding

_FIELDS = {"id", "reason", "expires", "package"}


@dataclass(frozen=True, slots=True)
class Accepted:
    """One accepted finding, as the ignore file states it."""

    id: str
    reason: str
    expires: datetime.date
    package: str = ""

    def covers(self, finding: Finding) -> bool:
        """Whether this entry names ``finding`` (by id or alias, and package when given)."""
        return self.id in finding.names and self.package in ("", finding.package.name)


def load(path: Path) -> list[Accepted]:
    """The entries of the ignore file; ``InvalidArgument`` naming the file and entry otherwise."""
    import tomllib

    try:
        document = tomllib.loads(path.read_text())
    except OSError as err:
        raise InvalidArgument(f"ignore file {path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"ignore file {path}: not TOML ({err})") from None
    entries = document.get("ignore", [])
    if set(document) - {"ignore"} or not isinstance(entries, list):
        raise InvalidArgument(f"ignore file {path}: want only [[ignore]] tables")
    return [_entry(path, index, entry) for index, entry in enumerate(entries)]


def _entry(path: Path, index: int, entry: object) -> Accepted:
    where = f"ignore file {path}: ignore[{index}]"
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{where}: not a table")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise InvalidArgument(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for name in ("id", "reason"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise InvalidArgument(f"{where}: {name} must be a non-empty string")
    expires = entry.get("expires")
    if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
        raise InvalidArgument(f"{where}: expires must be a date (expires = 2025-12-31)")
    package = entry.get("package", "")
    if not isinstance(package, str):
        raise InvalidArgument(f"{where}: package must be a string")
    return Accepted(entry["id"], entry["reason"], expires, package)


def apply(
    found: list[Finding], accepted: list[Accepted], today: datetime.date, warn: Callable[[str], None]
) -> tuple[list[Finding], list[tuple[Finding, Accepted]]]:
    """The findings still shown, and those hidden with the entry that hides each. An expired entry
    (``expires`` before ``today``) hides nothing; each one that would have is passed to ``warn``."""
    shown: list[Finding] = []
    hidden: list[tuple[Finding, Accepted]] = []
    expired_said: set[Accepted] = set()
    for finding in found:
        entries = [entry for entry in accepted if entry.covers(finding)]
        valid = next((entry for entry in entries if entry.expires >= today), None)
        if valid is not None:
            hidden.append((finding, valid))
            continue
        for entry in entries:
            if entry not in expired_said:
                expired_said.add(entry)
                warn(f"ignore entry {entry.id} expired on {entry.expires}; its findings are shown")
        shown.append(finding)
    return shown, hidden
