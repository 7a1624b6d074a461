"""SPDX 2.3 JSON (spdx-spec v2.3: clause 6 document creation, clause 7 packages, clause 10 other
licensing information, clause 11 relationships): the image is one package that the document
DESCRIBES and that CONTAINS every package found."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from berth.inventory.formats import created_utc, tool_version
from berth.inventory.licenses import to_spdx
from berth.inventory.model import Inventory, Package

NOASSERTION = "NOASSERTION"
_IMAGE_ID = "SPDXRef-Image"


def _idstring(text: str) -> str:
    # 6.3 / 7.2: SPDX identifiers and LicenseRef- names are made of letters, digits, '.' and '-'.
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "x"


def _declared(package: Package, refs: dict[str, str]) -> str:
    """7.15 licenseDeclared: the declared licences ANDed, unknown ones as LicenseRef- (noted in
    ``refs``: identifier -> name), or NOASSERTION when none is recorded."""
    parts = []
    for name in package.licenses:
        expression = to_spdx(name)
        if expression is None:
            expression = "LicenseRef-" + _idstring(name)
            refs.setdefault(expression, name)
        parts.append(f"({expression})" if " " in expression and len(package.licenses) > 1 else expression)
    return " AND ".join(parts) or NOASSERTION


def _package(package: Package, spdx_id: str, refs: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": _declared(package, refs),
        "copyrightText": NOASSERTION,
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package.purl,
            },
            {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": package.cpe},
        ],
        "comment": f"layer {package.layer}, recorded in /{package.path}",
    }
    if package.source_name:
        entry["sourceInfo"] = f"built from source package {package.source_name} {package.source_version}"
    return entry


def _namespace(inventory: Inventory) -> str:
    name = quote(inventory.name, safe="")
    return f"https://berth.invalid/spdx/{name}/{inventory.digest.partition(':')[2]}"


def document(inventory: Inventory) -> dict[str, Any]:
    """The SPDX 2.3 document of ``inventory``, as JSON-ready data."""
    refs: dict[str, str] = {}
    packages = [
        _package(p, f"SPDXRef-{p.type}-{_idstring(p.name)}-{n}", refs)
        for n, p in enumerate(inventory.packages, 1)
    ]
    image = {
        "SPDXID": _IMAGE_ID,
        "name": inventory.name,
        "versionInfo": inventory.digest,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
    }
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": _IMAGE_ID,
        }
    ]
    relationships += [
        {"spdxElementId": _IMAGE_ID, "relationshipType": "CONTAINS", "relatedSpdxElement": p["SPDXID"]}
        for p in packages
    ]
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inventory.name,
        # 6.5: unique per document; the manifest digest makes it so, and the same on every run.
        "documentNamespace": _namespace(inventory),
        "creationInfo": {"created": created_utc(inventory), "creators": [f"Tool: berth-{tool_version()}"]},
        "packages": [image, *packages],
        "relationships": relationships,
    }
    if refs:
        doc["hasExtractedLicensingInfos"] = [
            {
                "licenseId": ref,
                "name": name,
                "extractedText": f"The licence the package's records name {name!r}.",
            }
            for ref, name in sorted(refs.items())
        ]
    return doc
