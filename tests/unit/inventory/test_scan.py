"""The parts of berth scan that need no image: CVSS v3 scores, range evaluation, records refused."""

from __future__ import annotations

import pytest

from berth.inventory.scan.osv import Affected, InvalidRecord, Range, parse_record
from berth.inventory.scan.ranges import affected, in_range
from berth.inventory.scan.severity import cvss3_base_score, level_of
from berth.inventory.versions import dpkg, semver


@pytest.mark.parametrize(
    ("vector", "score", "level"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "CRITICAL"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "CRITICAL"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "MEDIUM"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, "MEDIUM"),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1, "LOW"),
    ],
)
def test_cvss3_base_scores(vector: str, score: float, level: str) -> None:
    assert cvss3_base_score(vector) == score
    assert level_of(score) == level


def test_vectors_that_are_not_cvss3_have_no_score() -> None:
    assert cvss3_base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") is None  # CVSS v2
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L") is None


def test_range_events_in_any_order() -> None:
    events = (
        ("fixed", "2.0.0"),
        ("introduced", "1.0.0"),
        ("introduced", "3.0.0"),
        ("last_affected", "3.1.0"),
    )
    spans = Range("SEMVER", events)
    versions = ("0.9.0", "1.0.0", "1.9.9", "2.0.0", "3.1.0", "3.1.1")
    assert [in_range(v, spans, semver.compare) for v in versions] == [False, True, True, False, True, False]
    entry = Affected("npm", "a", (spans,), (), ())
    assert affected("3.0.5", entry, semver.compare) == (True, ())  # 2.0.0 fixes an earlier span
    assert affected("1.5.0", entry, semver.compare) == (True, ("2.0.0",))
    limited = Range("ECOSYSTEM", (("introduced", "0"), ("limit", "1.0-1")))
    assert [in_range(v, limited, dpkg.compare) for v in ("0.1", "1.0~rc1-1", "1.0-1")] == [True, True, False]


def test_a_record_names_its_file_and_field_when_refused() -> None:
    base = {"id": "X-1", "modified": "2024-01-01T00:00:00Z"}
    with pytest.raises(InvalidRecord, match=r"^db/x.json: affected\[0\].package: missing$"):
        parse_record({**base, "affected": [{}]}, "db/x.json")
    two = {"package": {"ecosystem": "npm", "name": "a"}, "ranges": [{"type": "SEMVER", "events": [
        {"introduced": "0", "fixed": "1.0.0"}]}]}  # fmt: skip
    with pytest.raises(InvalidRecord, match=r"events\[0\]: not exactly one of introduced, fixed"):
        parse_record({**base, "affected": [two]}, "db/x.json")
    with pytest.raises(InvalidRecord, match=r"^db/x.json: modified: '2024-01-01' is not an RFC 3339 UTC"):
        parse_record({**base, "modified": "2024-01-01"}, "db/x.json")
    with pytest.raises(InvalidRecord, match=r"^db/x.json: aliases\[1\]: not a JSON string$"):
        parse_record({**base, "aliases": ["A", 2]}, "db/x.json")
