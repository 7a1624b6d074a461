"""Python distributions: ``*.dist-info/METADATA`` (wheels, PyPA's installed-distribution format)
and ``*.egg-info/PKG-INFO`` or an ``*.egg-info`` file (setuptools), both core metadata (RFC 822
headers: Name, Version, License-Expression, License, Classifier)."""

from __future__ import annotations

from functools import partial

from berth.inventory.model import Package
from berth.inventory.purl import cpe, pep503_name, purl
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, added_in, readable, text
from berth.inventory.sources._stanzas import Stanza, every, first, stanzas

_ENDINGS = (".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info")
_LICENSE_CLASSIFIER = "License :: "


def wants(path: str) -> bool:
    """Core metadata files of installed distributions."""
    return path.endswith(_ENDINGS)


def _headers(path: str, data: bytes) -> Stanza:
    found = stanzas(text(data, path), path, first_only=True)
    headers = found[0] if found else []
    if not first(headers, "Name") or not first(headers, "Version"):
        raise RecordError(f"{path}: no Name or Version field")
    return headers


def licenses(headers: Stanza) -> tuple[str, ...]:
    """The declared licences: PEP 639's License-Expression, else a one-line License field, else the
    names of the License classifiers."""
    expression = first(headers, "License-Expression")
    if expression:
        return (expression,)
    field = first(headers, "License")
    if field and "\n" not in field and field.upper() != "UNKNOWN":
        return (field,)
    names = [
        c.rpartition(" :: ")[2] for c in every(headers, "Classifier") if c.startswith(_LICENSE_CLASSIFIER)
    ]
    return tuple(sorted(set(names) - {"OSI Approved"}))


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The installed Python distributions; a metadata file that cannot be read is skipped."""
    found = []
    for path, kept, headers in readable(image, wants, _headers, warn):
        name, version = first(headers, "Name"), first(headers, "Version")
        found.append(
            Package(
                type="pypi",
                name=name,
                version=version,
                purl=purl("pypi", pep503_name(name), version),
                cpe=cpe(pep503_name(name), pep503_name(name), version),
                layer=image.layers[added_in(kept, partial(_headers, path))],
                path=path,
                licenses=licenses(headers),
            )
        )
    return found
