"""The scan's output: a table, a JSON document, or a SARIF 2.1.0 log (OASIS SARIF v2.1.0)."""

from __future__ import annotations

import json
from typing import Any

from berth.inventory.model import Inventory
from berth.inventory.scan.ignore import Accepted
from berth.inventory.scan.match import Finding

FORMATS = ("table", "json", "sarif")
_SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: SARIF 3.27.10 result levels by severity.
_SARIF_LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}


def render(
    fmt: str, inventory: Inventory, shown: list[Finding], hidden: list[tuple[Finding, Accepted]]
) -> bytes:
    """The report as JSON (``fmt`` ``json``) or SARIF (``sarif``); the table is the CLI's to print."""
    if fmt == "json":
        document: dict[str, Any] = {
            "image": inventory.name,
            "digest": inventory.digest,
            "findings": [finding_json(f) for f in shown],
            "ignored": [
                {**finding_json(f), "reason": a.reason, "expires": str(a.expires)} for f, a in hidden
            ],
        }
        return (json.dumps(document, indent=2) + "\n").encode()
    if fmt == "sarif":
        return (json.dumps(sarif(inventory, shown), indent=2) + "\n").encode()
    raise ValueError(f"unknown report format {fmt!r}")


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding as JSON reports and the policy input show it."""
    package = finding.package
    return {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "summary": finding.summary,
        "severity": finding.severity,
        "score": finding.score,
        "ecosystem": finding.ecosystem,
        "package": {"name": package.name, "version": package.version, "type": package.type,
                    "purl": package.purl, "layer": package.layer, "path": package.path},
        "fixed": list(finding.fixed),
    }  # fmt: skip


TABLE_HEADERS = ("PACKAGE", "VERSION", "ID", "SEVERITY", "FIXED IN")


def table_rows(shown: list[Finding]) -> list[tuple[str, ...]]:
    """The table's rows under ``TABLE_HEADERS``, one a finding."""
    return [(f.package.name, f.package.version, f.id, f.severity, ", ".join(f.fixed) or "-") for f in shown]


def sarif(inventory: Inventory, shown: list[Finding]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run of the ``berth`` tool, a rule per record, a result per finding
    located at the package's record file in the image."""
    from berth import __version__

    rules: dict[str, tuple[int, dict[str, Any]]] = {}
    results = []
    for finding in shown:
        rule: dict[str, Any] = {
            "id": finding.id,
            "shortDescription": {"text": finding.summary or finding.id},
            "properties": {"tags": ["security", "vulnerability"]},
        }
        if finding.score is not None:
            # GitHub code scanning reads properties.security-severity (a CVSS score, as text).
            rule["properties"]["security-severity"] = f"{finding.score:.1f}"
        rule_index = rules.setdefault(finding.id, (len(rules), rule))[0]
        fixed = f"; fixed in {', '.join(finding.fixed)}" if finding.fixed else ""
        results.append({
            "ruleId": finding.id,
            "ruleIndex": rule_index,
            "level": _SARIF_LEVELS[finding.severity],
            "message": {"text": f"{finding.package.name} {finding.package.version} is affected by "
                                f"{finding.id} ({finding.severity}){fixed}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": finding.package.path}}}],
            "properties": {"purl": finding.package.purl, "layer": finding.package.layer},
        })  # fmt: skip
    run = {
        "tool": {
            "driver": {"name": "berth", "version": __version__, "rules": [r for _, r in rules.values()]}
        },
        "properties": {"image": inventory.name, "digest": inventory.digest},
        "results": results,
    }
    return {"$schema": _SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
