"""``berth scan`` end to end: OSV records written for the packages of handmade images (Debian,
Python, npm, Alpine) and of the mmdebstrap Debian root give exactly the expected findings; the
outputs, the CI gate, accepted findings, a bad record, and the database as a registry artifact."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from berth.distribution.server import RegistryConfig
from tests.integration.inventory.images import go_executable, jar, layer_tar, pom, store_image
from tests.integration.inventory.runner import Sbom
from tests.integration.registry_server.harness import running_registry

pytestmark = pytest.mark.timeout(300)

CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # base score 9.8


def status(*packages: tuple[str, str, str]) -> bytes:
    """A dpkg status file of (name, version, source field) packages."""
    return b"".join(
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"{'Source: ' + source + chr(10) if source else ''}Version: {version}\n\n".encode()
        for name, version, source in packages
    )


def manifest(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version}).encode()


SITE = "usr/lib/python3/dist-packages"
MIXED = {
    "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
    "var/lib/dpkg/status": status(
        ("libc6", "2.36-9+deb12u3", "glibc"),
        ("libssl3", "3.0.11-1~deb12u2", "openssl"),
        ("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
        ("bash", "5.2.15-2+b2", "bash (5.2.15-2)"),
    ),
    f"{SITE}/Django-4.2.1.dist-info/METADATA": b"Name: Django\nVersion: 4.2.1\n",
    f"{SITE}/requests-2.31.0.dist-info/METADATA": b"Name: requests\nVersion: 2.31.0\n",
    f"{SITE}/zope.interface-6.0.dist-info/METADATA": b"Name: zope.interface\nVersion: 6.0\n",
    "srv/app/node_modules/ansi/package.json": manifest("ansi", "2.1.0"),
    "srv/app/node_modules/left-pad/package.json": manifest("left-pad", "1.3.0"),
    "srv/app/node_modules/left-pad/node_modules/ansi/package.json": manifest("ansi", "1.0.0"),
    "srv/app/node_modules/@scope/util/package.json": manifest("@scope/util", "2.0.0"),
    "opt/log4j-core-2.14.1.jar": jar(pom("org.apache.logging.log4j", "log4j-core", "2.14.1")),
    "usr/local/bin/app": go_executable(
        "go1.20", "mod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\t\n"
    ),
}


def record(rid: str, ecosystem: str, name: str, *ranges: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An OSV record of one affected package; ``versions`` and ``severity`` may come in ``extra``."""
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}, "ranges": list(ranges)}
    if "versions" in extra:
        affected["versions"] = extra.pop("versions")
    return {"id": rid, "modified": "2024-05-01T00:00:00Z", "affected": [affected], **extra}


def events(kind: str = "ECOSYSTEM", **bounds: str) -> dict[str, Any]:
    return {"type": kind, "events": [{key: value} for key, value in bounds.items()]}


RECORDS = [
    record("DSA-0001-1", "Debian:12", "glibc", events(introduced="0", fixed="2.36-9+deb12u4"),
           severity=[{"type": "CVSS_V3", "score": CRITICAL_VECTOR}], summary="glibc: overflow"),
    record("DSA-0002-1", "Debian:12", "glibc", events(introduced="0", fixed="2.36-9+deb12u3")),  # fixed here
    record("DSA-0003-1", "Debian:12", "libc6", events(introduced="0", fixed="9")),  # a binary name
    record("DSA-0004-1", "Debian:12", "openssl", events(introduced="0", fixed="3.0.11-1")),  # ~ sorts first
    record("DSA-0005-1", "Debian:11", "openssl", events(introduced="0", fixed="9")),  # another release
    record("DSA-0006-1", "Debian:12", "zlib", events(introduced="0", fixed="1.2.14-1")),  # the epoch wins
    record("DSA-0007-1", "Debian:12", "zlib", events(introduced="0", last_affected="1:1.2.13.dfsg-1")),
    # bash 5.2.15-2+b2 is built from source 5.2.15-2: the source version is the one compared.
    record("DSA-0008-1", "Debian:12", "bash", events(introduced="0", fixed="5.2.15-2+b1")),
    record("GHSA-dj-0001", "PyPI", "django", events(introduced="4.2", fixed="4.2.2"),
           database_specific={"severity": "MODERATE"}),
    record("PYSEC-0001", "PyPI", "requests", events(introduced="0", fixed="2.31.0")),
    record("PYSEC-0002", "PyPI", "Zope_Interface", versions=["6.0"]),
    record("PYSEC-0003", "PyPI", "requests", events(introduced="0"), withdrawn="2024-06-01T00:00:00Z"),
    record("GHSA-an-0001", "npm", "ansi", events("SEMVER", introduced="0", fixed="2.0.0"),
           database_specific={"severity": "HIGH"}),
    record("GHSA-ut-0001", "npm", "@scope/util", events(introduced="2.0.0-rc.1", last_affected="2.0.0")),
    record("GHSA-lp-0001", "npm", "left-pad", events(introduced="1.3.1")),
    record("GO-2024-0001", "Go", "example.com/mod", events("SEMVER", introduced="0", fixed="1.2.3")),
    record("GO-2022-1059", "Go", "golang.org/x/text", events("SEMVER", introduced="0", fixed="0.3.8")),
    record("GO-2023-0001", "Go", "stdlib", events("SEMVER", introduced="1.20.0-0", fixed="1.20.1")),  # go1.20
    record("GO-2023-0002", "Go", "stdlib", events("SEMVER", introduced="0", fixed="1.19.9")),
    record("GHSA-mv-0001", "Maven", "org.example:lib", events(introduced="0", fixed="2.0-rc1")),
    record("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core",
           events(introduced="2.0-beta9", fixed="2.15.0")),
    record("GHSA-mv-0002", "Maven", "org.apache.logging.log4j:log4j-core", events(introduced="2.15.0-rc1")),
]  # fmt: skip
EXPECTED = {
    ("DSA-0001-1", "libc6"), ("DSA-0004-1", "libssl3"), ("DSA-0007-1", "zlib1g"), ("DSA-0008-1", "bash"),
    ("GHSA-dj-0001", "Django"), ("PYSEC-0002", "zope.interface"), ("GHSA-an-0001", "ansi"),
    ("GHSA-ut-0001", "@scope/util"), ("GHSA-jfh8-c2jp-5v3q", "org.apache.logging.log4j:log4j-core"),
    ("GO-2022-1059", "golang.org/x/text"), ("GO-2023-0001", "stdlib"),
}  # fmt: skip


def write_db(where: Path, records: list[dict[str, Any]]) -> Path:
    for item in records:
        path = where / item["affected"][0]["package"]["ecosystem"].partition(":")[0] / f"{item['id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(item))
    return where


@pytest.fixture
def mixed(sbom: Sbom, tmp_path: Path) -> Path:
    """The mixed image stored as local/mixed:1; returns the database directory of ``RECORDS``."""
    store_image(sbom.root, "local/mixed:1", [layer_tar(MIXED, executables=("usr/local/bin/app",))])
    return write_db(tmp_path / "db", RECORDS)


def scan_json(sbom: Sbom, db: str, *args: str, image: str = "local/mixed:1") -> dict[str, Any]:
    out = sbom.tmp / "scan.json"
    assert sbom("scan", "--db", db, "--format", "json", "-o", str(out), *args, image) == 0, sbom.err
    return dict(json.loads(out.read_text()))


def pairs(report: dict[str, Any], key: str = "findings") -> set[tuple[str, str]]:
    return {(f["id"], f["package"]["name"]) for f in report[key]}


def test_records_for_the_images_packages_give_exactly_the_expected_findings(sbom: Sbom, mixed: Path) -> None:
    report = scan_json(sbom, str(mixed))
    assert sbom.err == ""
    assert pairs(report) == EXPECTED
    glibc = report["findings"][0]  # the worst first
    assert (glibc["id"], glibc["severity"], glibc["score"], glibc["fixed"]) == (
        "DSA-0001-1", "CRITICAL", 9.8, ["2.36-9+deb12u4"],
    )  # fmt: skip
    ansi = next(f for f in report["findings"] if f["id"] == "GHSA-an-0001")
    assert (ansi["package"]["version"], ansi["severity"]) == ("1.0.0", "HIGH")
    assert next(f for f in report["findings"] if f["id"] == "GHSA-dj-0001")["severity"] == "MEDIUM"


def test_a_zip_of_the_records_is_the_same_database(sbom: Sbom, mixed: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "db.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in mixed.rglob("*.json"):
            out.write(path, str(path.relative_to(mixed)))
    assert pairs(scan_json(sbom, str(archive))) == EXPECTED


def test_table_severity_and_exit_code_make_a_ci_gate(
    sbom: Sbom, mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom.capsys.readouterr()
    from berth.cli.main import main

    code = main(["--root", str(sbom.root), "scan", "--db", str(mixed), "--severity", "high",
                 "--exit-code", "3", "local/mixed:1"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert code == 3
    assert lines[0].split() == ["PACKAGE", "VERSION", "ID", "SEVERITY", "FIXED", "IN"]
    assert [line.split()[:4] for line in lines[1:-1]] == [
        ["libc6", "2.36-9+deb12u3", "DSA-0001-1", "CRITICAL"],
        ["ansi", "1.0.0", "GHSA-an-0001", "HIGH"],
    ]
    assert lines[-1] == "2 finding(s)"
    accepted = _ignore_file(sbom.tmp, "DSA-0001-1", "2999-01-01")
    assert sbom("scan", "--db", str(mixed), "--severity", "CRITICAL", "--exit-code", "3",
                "--ignore", str(accepted), "local/mixed:1") == 0  # fmt: skip


def _ignore_file(where: Path, rid: str, expires: str, package: str = "") -> Path:
    path = where / f"ignore-{rid}-{expires}.toml"
    extra = f'package = "{package}"\n' if package else ""
    path.write_text(f'[[ignore]]\nid = "{rid}"\nreason = "not reachable"\nexpires = {expires}\n{extra}')
    return path


def test_accepted_findings_are_hidden_until_their_entry_expires(sbom: Sbom, mixed: Path) -> None:
    ignore = sbom.tmp / "ignore.toml"
    ignore.write_text(
        '[[ignore]]\nid = "GHSA-dj-0001"\npackage = "Django"\nreason = "admin only"\nexpires = 2999-01-01\n\n'
        '[[ignore]]\nid = "DSA-0001-1"\nreason = "was waiting for a fix"\nexpires = 2000-01-01\n'
    )
    report = scan_json(sbom, str(mixed), "--ignore", str(ignore))
    assert pairs(report) == EXPECTED - {("GHSA-dj-0001", "Django")}
    assert pairs(report, "ignored") == {("GHSA-dj-0001", "Django")}
    assert report["ignored"][0]["reason"] == "admin only"
    assert (
        sbom.err == "berth: warning: ignore entry DSA-0001-1 expired on 2000-01-01; its findings are shown\n"
    )
    bad = _ignore_file(sbom.tmp, "X-1", '"soon"')
    assert sbom("scan", "--db", str(mixed), "--ignore", str(bad), "local/mixed:1") == 125
    assert sbom.err == f"berth: ignore file {bad}: ignore[0]: expires must be a date (expires = 2025-12-31)\n"


def test_sarif_has_a_rule_per_record_and_a_result_per_finding(sbom: Sbom, mixed: Path) -> None:
    out = sbom.tmp / "scan.sarif"
    assert sbom("scan", "--db", str(mixed), "--format", "sarif", "-o", str(out), "local/mixed:1") == 0
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert sorted(rules) == sorted(rid for rid, _ in EXPECTED)
    assert {(r["ruleId"], rules[r["ruleIndex"]]) for r in run["results"]} == {(r, r) for r in rules}
    first = run["results"][0]
    assert (first["level"], first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) == (
        "error", "var/lib/dpkg/status",
    )  # fmt: skip
    assert run["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == "9.8"


def test_a_record_that_does_not_validate_is_one_line_and_nothing_is_written(sbom: Sbom, mixed: Path) -> None:
    bad = record("BAD-1", "PyPI", "django", events("FOO", introduced="0"))
    (mixed / "bad.json").write_text(json.dumps(bad))
    out = sbom.tmp / "out.json"
    assert sbom("scan", "--db", str(mixed), "--format", "json", "-o", str(out), "local/mixed:1") == 125
    where = f"berth: {mixed}/bad.json: affected[0].ranges[0]"
    assert sbom.err == f"{where}.type: 'FOO' is not one of GIT, SEMVER, ECOSYSTEM\n"
    assert not out.exists()
    (mixed / "bad.json").write_text(
        json.dumps(record("BAD-2", "Debian:12", "x", events(introduced="0", fixed="a:1")))
    )
    assert sbom("scan", "--db", str(mixed), "local/mixed:1") == 125
    assert sbom.err == f"{where}.events[1].fixed: version 'a:1': the epoch is not a number\n"
    (mixed / "bad.json").write_text('{"id": "BAD-3"}')
    assert sbom("scan", "--db", str(mixed), "local/mixed:1") == 125
    assert sbom.err == f"berth: {mixed}/bad.json: modified: missing\n"


def test_alpine_records_match_the_origin_package_and_release(sbom: Sbom, tmp_path: Path) -> None:
    installed = b"P:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4_git20230717-r4\no:musl\n\n"
    files = {"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n", "lib/apk/db/installed": installed}
    store_image(sbom.root, "local/alpine:1", [layer_tar(files)])
    db = write_db(tmp_path / "db", [
        record("ALPINE-1", "Alpine:v3.19", "openssl", events(introduced="0", fixed="3.1.4-r3")),
        record("ALPINE-2", "Alpine:v3.18", "openssl", events(introduced="0", fixed="3.1.4-r3")),
        record("ALPINE-3", "Alpine:v3.19", "musl", events(introduced="0", fixed="1.2.4_git20230717-r4")),
        record("ALPINE-4", "Alpine:v3.19", "musl", events(introduced="1.2.4_git20230717-r4", fixed="1.2.5")),
    ])  # fmt: skip
    assert pairs(scan_json(sbom, str(db), image="local/alpine:1")) == {
        ("ALPINE-1", "libcrypto3"), ("ALPINE-4", "musl"),
    }  # fmt: skip


def test_the_database_as_a_registry_artifact(sbom: Sbom, mixed: Path, tmp_path: Path) -> None:
    with running_registry(RegistryConfig(root=tmp_path / "registry")) as server:
        ref = f"{server.host}:{server.port}/security/vulndb:1"
        flags = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json")]
        assert sbom("vulndb", "push", *flags, str(mixed), ref) == 0, sbom.err
        report = scan_json(sbom, f"docker://{ref}", *flags)
        assert pairs(report) == EXPECTED
        assert sbom("scan", "--db", f"docker://{server.host}:{server.port}/security/none:1", *flags,
                    "local/mixed:1") == 125  # fmt: skip
        assert "manifest unknown" in sbom.err


# -- the mmdebstrap image ------------------------------------------------------------------------


def test_debian_records_on_the_mmdebstrap_image(sbom: Sbom, debian_tar: Path, tmp_path: Path) -> None:
    assert sbom("import", str(debian_tar), "local/bookworm:minbase") == 0, sbom.err
    glibc = _source_version(debian_tar, "libc6")
    db = write_db(tmp_path / "db", [
        record("T-1", "Debian:12", "glibc", events(introduced="0", fixed=glibc + "+1")),  # affected
        record("T-2", "Debian:12", "glibc", events(introduced="0", fixed=glibc)),  # fixed in it
        record("T-3", "Debian:12", "glibc", events(introduced=glibc + "~", last_affected=glibc)),  # affected
        record("T-4", "Debian:12", "glibc", events(introduced=glibc + "+1")),  # introduced later
        record("T-5", "Debian:12", "glibc", events(introduced="0", fixed="1:" + glibc)),  # epoch 1 is later
        record("T-6", "Debian:11", "glibc", events(introduced="0")),
        record("T-7", "Debian:12", "libc6", events(introduced="0")),  # binary names are not keys
    ])  # fmt: skip
    report = scan_json(sbom, str(db), image="local/bookworm:minbase")
    assert sorted(pairs(report)) == [
        (rid, name) for rid in ("T-1", "T-3", "T-5") for name in _binaries_of(debian_tar, "glibc")
    ]


def _status_of(debian_tar: Path) -> list[dict[str, str]]:
    with tarfile.open(debian_tar) as tar:
        member = next(m for m in tar if m.name.removeprefix("./") == "var/lib/dpkg/status")
        text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    stanzas = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " ")
        if fields:
            stanzas.append(fields)
    return stanzas


def _source_version(debian_tar: Path, binary: str) -> str:
    stanza = next(s for s in _status_of(debian_tar) if s["Package"] == binary)
    source = stanza.get("Source", "")
    return source.partition(" (")[2].rstrip(")") or stanza["Version"]


def _binaries_of(debian_tar: Path, source: str) -> list[str]:
    return sorted(
        s["Package"] for s in _status_of(debian_tar)
        if (s.get("Source", s["Package"]).partition(" ")[0]) == source
    )  # fmt: skip
