"""Findings: which records affect which packages of an inventory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from berth.inventory.model import Inventory, Package
from berth.inventory.scan.ecosystems import SCHEMES, normal_name, package_key, split_ecosystem
from berth.inventory.scan.osv import Affected, Record


@dataclass(frozen=True, slots=True)
class Finding:
    """A record that affects a package: the record's id, aliases and summary, its level and CVSS
    score for this package (``berth.inventory.scan.severity``), the ecosystem matched, and the
    versions that fix it (empty when none is known)."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    score: float | None
    ecosystem: str
    package: Package
    fixed: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The record's id and its aliases."""
        return (self.id, *self.aliases)


Index = dict[tuple[str, str], list[tuple[Record, Affected]]]


def index(records: Iterable[Record]) -> Index:
    """The records' affected packages by (ecosystem without release, name as compared)."""
    found: Index = defaultdict(list)
    for record in records:
        for entry in record.affected:
            base = split_ecosystem(entry.ecosystem)[0]
            found[(base, normal_name(base, entry.name))].append((record, entry))
    return found


def findings(inventory: Inventory, records: Index, warn: Callable[[str], None]) -> list[Finding]:
    """Every (record, package) of the inventory that the records say is affected, sorted by
    severity (worst first), package and id; a package version its ecosystem cannot read is passed
    to ``warn`` and not matched."""
    from berth.inventory.scan.ranges import affected
    from berth.inventory.scan.severity import rank, rate
    from berth.inventory.versions import VersionError, comparator

    found: dict[tuple[str, str, str], Finding] = {}
    for package in inventory.packages:
        key = package_key(package, inventory.distro)
        if key is None:
            continue
        compare = comparator(SCHEMES[key.ecosystem])
        for record, entry in records.get((key.ecosystem, key.name), ()):
            release = split_ecosystem(entry.ecosystem)[1]
            if release and key.release and release != key.release:
                continue
            try:
                hit, fixed = affected(key.version, entry, compare)
            except VersionError as err:
                warn(f"{package.name} {package.version} ({package.path}) not matched: {err}")
                break  # the package's version is not one of its ecosystem's: no record can match
            if hit and (record.id, package.purl, package.path) not in found:
                level, score = rate(record, entry)
                found[(record.id, package.purl, package.path)] = Finding(
                    record.id, record.aliases, record.summary, level, score, entry.ecosystem, package, fixed
                )
    return sorted(found.values(), key=lambda f: (-rank(f.severity), f.package.sort_key, f.id))
