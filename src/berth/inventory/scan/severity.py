"""How severe a record is: a level of ``LEVELS``, with a score when one is known.

The level comes from, in order: a CVSS v3 vector of the affected package or the record (its base
score computed as CVSS v3.1 section 7.1 says, then rated as section 5 says: 0.1-3.9 LOW, 4.0-6.9
MEDIUM, 7.0-8.9 HIGH, 9.0-10.0 CRITICAL); the record's ``database_specific.severity`` word
(GitHub's LOW, MODERATE, HIGH, CRITICAL); an ``Ubuntu`` priority word. Otherwise it is UNKNOWN.
CVSS v2 and v4 vectors are not scored.
"""

from __future__ import annotations

import math

from berth.inventory.scan.osv import Affected, Record, Severity

LEVELS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_WORDS = {"LOW": "LOW", "NEGLIGIBLE": "LOW", "MODERATE": "MEDIUM", "MEDIUM": "MEDIUM", "HIGH": "HIGH",
          "CRITICAL": "CRITICAL", "IMPORTANT": "HIGH"}  # fmt: skip

# CVSS v3.1 section 7.4: the metric values.
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def rank(level: str) -> int:
    """The place of ``level`` in ``LEVELS`` (higher is worse)."""
    return LEVELS.index(level)


def cvss3_base_score(vector: str) -> float | None:
    """The base score of a ``CVSS:3.x/AV:../AC:../...`` vector, or None if it is not one."""
    parts = vector.split("/")
    if not parts[0].startswith("CVSS:3"):
        return None
    metrics = dict(part.partition(":")[::2] for part in parts[1:])
    try:
        changed = metrics["S"] == "C"
        iss = 1 - (1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]])
        privileges = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
        exploitability = 8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * privileges * _UI[metrics["UI"]]
    except KeyError:
        return None
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(min(total, 10.0))


def _roundup(value: float) -> float:
    # CVSS v3.1 Appendix A: round up to one decimal, immune to floating-point error.
    integer = round(value * 100000)
    if integer % 10000 == 0:
        return integer / 100000.0
    return (math.floor(integer / 10000) + 1) / 10.0


def level_of(score: float) -> str:
    """CVSS v3.1 section 5's rating of a base score."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    return "LOW" if score > 0 else "UNKNOWN"


def rate(record: Record, entry: Affected) -> tuple[str, float | None]:
    """The level and, from a CVSS v3 vector, the score of ``record`` for the package of ``entry``."""
    severities: tuple[Severity, ...] = entry.severity or record.severity
    for item in severities:
        score = cvss3_base_score(item.score) if item.type == "CVSS_V3" else None
        if score is not None:
            return level_of(score), score
    word = _WORDS.get(record.database_severity.upper(), "")
    if word:
        return word, None
    for item in severities:
        if item.type == "Ubuntu" and item.score.upper() in _WORDS:
            return _WORDS[item.score.upper()], None
    return "UNKNOWN", None
