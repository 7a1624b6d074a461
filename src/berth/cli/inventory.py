"""Inventory commands.

berth sbom [--format spdx-json|cyclonedx-json] [-o FILE] [--sign KEY] [--attach] IMAGE
berth scan --db DB [--format table|json|sarif] [-o FILE] [--severity LEVEL] [--exit-code N]
           [--ignore FILE] IMAGE
berth vulndb push DIR REFERENCE
berth policy check [--policy DIR]... [--builtin cis] [--db DB] [--format table|json] [--exit-code N] IMAGE

IMAGE is a name or an image ID, as ``berth image inspect`` takes, or ``docker://REFERENCE`` (an
image in a registry). The handlers read the image through ``berth.inventory`` and write to stdout
or, atomically, to FILE. DB is a directory, a zip
or tar of OSV records, or ``docker://REFERENCE``, an artifact made by ``berth vulndb push``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from berth.cli.images_remote import _context, _registry_flags
from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_FORMATS = ("spdx-json", "cyclonedx-json")
#: berth.inventory.scan.severity.LEVELS (not imported: this module loads for every command's help).
_LEVELS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def _warn(line: str) -> None:
    print(f"berth: warning: {line}", file=sys.stderr)


def _inventory(args: argparse.Namespace) -> Any:
    """The inventory of ``args.image`` in the store ``--root`` names."""
    from berth.engine.config import load_config
    from berth.image.images import ImageStore
    from berth.inventory.sbom import inventory

    store = ImageStore(load_config(args.root, args.runroot).root / "images")
    try:
        return inventory(store, args.image, _warn)
    finally:
        store.close()


def _output(args: argparse.Namespace, document: bytes) -> None:
    """Write ``document`` to ``-o FILE`` atomically, else to stdout."""
    if args.output:
        from berth.fsutil import atomic_write

        atomic_write(args.output, document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()


def _sbom(args: argparse.Namespace) -> int:
    from berth.cli.trust import load_signing_key
    from berth.inventory import attest, remote
    from berth.inventory.formats import render

    # Checked before the image is read: a bad key or an image in no registry fails at once.
    key = load_signing_key(args.sign, args.passphrase_file) if args.sign else None
    reference = remote.registry_reference(args.image) if args.attach else None
    if args.image.startswith("docker://"):
        with remote.registry_inventory(remote.registry_reference(args.image), _context(args), _warn) as found:
            document = render(found, args.format)
    else:
        found = _inventory(args)
        document = render(found, args.format)
    media_type, notes = attest.MEDIA_TYPES[args.format], {}
    if key is not None:
        name = args.image.removeprefix("docker://")
        statement = attest.statement(name, found.digest, args.format, document)
        document, media_type = attest.envelope(statement, key), attest.ENVELOPE_TYPE
        notes = {attest.PREDICATE_ANNOTATION: attest.PREDICATE_TYPES[args.format]}
    if reference is not None:
        digest = remote.attach(reference, found.digest, document, media_type, _context(args), notes)
        print(f"attached {digest} to {reference.name}@{found.digest}", file=sys.stderr)
    _output(args, document)
    return 0


def _vulnerability_records(args: argparse.Namespace) -> Any:
    """The OSV records of ``--db``, indexed for matching (a ``docker://`` one read from its registry)."""
    from berth.inventory.scan import database, match

    context = _context(args) if args.db.startswith("docker://") else None
    return match.index(database.load(args.db, context))


def _scan(args: argparse.Namespace) -> int:
    import datetime

    from berth.inventory.scan import ignore, match, report
    from berth.inventory.scan.severity import rank

    records = _vulnerability_records(args)
    accepted = ignore.load(Path(args.ignore)) if args.ignore else []
    found = _inventory(args)
    wanted = [f for f in match.findings(found, records, _warn) if rank(f.severity) >= rank(args.severity)]
    shown, hidden = ignore.apply(wanted, accepted, datetime.date.today(), _warn)
    if args.format == "table" and not args.output:
        from berth.cli._format import print_table

        print_table(report.TABLE_HEADERS, report.table_rows(shown))
        print(f"{len(shown)} finding(s)" + (f", {len(hidden)} ignored" if hidden else ""))
    elif args.format == "table":
        raise InvalidArgument("-o FILE takes --format json or sarif")
    else:
        _output(args, report.render(args.format, found, shown, hidden))
    return args.exit_code if shown else 0


def _vulndb_push(args: argparse.Namespace) -> int:
    from berth.inventory.scan.vulndb import push

    print(push(Path(args.dir), args.reference, _context(args)))
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    import json

    from berth.engine.config import load_config
    from berth.image.images import ImageStore
    from berth.inventory.policy.check import image_document, rule_sets
    from berth.inventory.policy.rego import evaluate

    modules = rule_sets(args.policy, args.builtin or ([] if args.policy else ["cis"]))
    records = _vulnerability_records(args) if args.db else None
    root = load_config(args.root, args.runroot).root
    store = ImageStore(root / "images")
    try:
        document = image_document(store, root, args.image, _warn, records)
    finally:
        store.close()
    broken = evaluate(modules, document)
    if args.format == "json":
        report = {"image": args.image, "digest": document["image"]["digest"],
                  "violations": [v.to_json() for v in broken]}  # fmt: skip
        print(json.dumps(report, indent=2))
    else:
        from berth.cli._format import print_table

        print_table(("PACKAGE", "RULE", "MESSAGE"), [(v.package, v.rule, v.message) for v in broken])
        print(f"{len(broken)} rule(s) broken")
    return args.exit_code if broken else 0


def register(sub: Any) -> None:
    """Add ``sbom``, ``scan``, ``vulndb`` and ``policy`` to the ``berth`` subcommands."""
    sbom = sub.add_parser("sbom", help="list the packages in an image (SPDX or CycloneDX JSON)")
    sbom.add_argument("--format", choices=_FORMATS, default="spdx-json", help="document format")
    sbom.add_argument("-o", "--output", metavar="FILE", help="write the document to FILE (atomically)")
    sbom.add_argument(
        "--sign", metavar="KEY", help="wrap the SBOM in an in-toto attestation (DSSE) signed with KEY"
    )
    sbom.add_argument("--passphrase-file", metavar="FILE", help="KEY's passphrase (else $COSIGN_PASSWORD)")
    sbom.add_argument(
        "--attach", action="store_true", help="push the document beside the image, as an OCI 1.1 referrer"
    )
    _registry_flags(sbom)
    sbom.add_argument("image", metavar="IMAGE", help="an image in the store, or docker://REFERENCE")
    sbom.set_defaults(handler=_sbom)

    scan = sub.add_parser("scan", help="match an image's packages against OSV vulnerability records")
    scan.add_argument("--db", required=True, help="OSV records: a directory, a zip or tar, or docker://REF")
    scan.add_argument("--format", choices=("table", "json", "sarif"), default="table", help="output format")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (json, sarif)")
    scan.add_argument(
        "--severity", type=str.upper, choices=_LEVELS, default="UNKNOWN",
        help="report findings of this level or worse (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)",
    )  # fmt: skip
    scan.add_argument("--exit-code", type=int, default=0, metavar="N", help="exit N if anything is found")
    scan.add_argument(
        "--ignore", metavar="FILE", help="accepted findings (TOML [[ignore]] id, reason, expires)"
    )
    _registry_flags(scan)
    scan.add_argument("image", metavar="IMAGE")
    scan.set_defaults(handler=_scan)

    policy = sub.add_parser("policy", help="check images against rules written in Rego")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="report each rule an image breaks")
    check.add_argument(
        "--policy", action="append", default=[], metavar="DIR", help="a directory of .rego files (repeatable)"
    )
    check.add_argument(
        "--builtin", action="append", choices=("cis",), default=[],
        help="a built-in rule set (cis: the CIS Docker Benchmark image checks; the default without --policy)",
    )  # fmt: skip
    check.add_argument(
        "--db", help="OSV records for input.findings: a directory, a zip or tar, or docker://REF"
    )
    check.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    check.add_argument("--exit-code", type=int, default=1, metavar="N", help="exit N if a rule is broken (1)")
    _registry_flags(check)
    check.add_argument("image", metavar="IMAGE")
    check.set_defaults(handler=_policy_check)

    vulndb = sub.add_parser("vulndb", help="vulnerability databases as registry artifacts")
    verbs = vulndb.add_subparsers(dest="verb", metavar="VERB", required=True)
    push = verbs.add_parser("push", help="push a directory of OSV records as an OCI artifact")
    push.add_argument("dir", metavar="DIR")
    push.add_argument("reference", metavar="REFERENCE")
    _registry_flags(push)
    push.set_defaults(handler=_vulndb_push)
