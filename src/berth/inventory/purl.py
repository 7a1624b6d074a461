"""Package URLs (github.com/package-url/purl-spec, PURL-SPECIFICATION.rst) and CPE 2.3 names
(NISTIR 7695, the formatted string binding) for the packages found."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

_CPE_PLAIN = re.compile(r"[A-Za-z0-9._-]")


def _encode(text: str) -> str:
    # purl-spec: each segment, the version and qualifier values are percent-encoded strings.
    return quote(text, safe="")


def purl(
    kind: str, name: str, version: str, namespace: str = "", qualifiers: Mapping[str, str] | None = None
) -> str:
    """``pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS``, qualifiers sorted by key, empty ones left out."""
    text = f"pkg:{kind}/"
    if namespace:
        text += "/".join(_encode(part) for part in namespace.split("/")) + "/"
    text += _encode(name)
    if version:
        text += "@" + _encode(version)
    pairs = sorted((key, value) for key, value in (qualifiers or {}).items() if value)
    if pairs:
        text += "?" + "&".join(f"{key}={_encode(value)}" for key, value in pairs)
    return text


def _cpe_value(text: str) -> str:
    # NISTIR 7695 6.2.3.1: in the formatted string, characters other than letters, digits, '.', '-'
    # and '_' are quoted with a backslash; an empty value is ANY ('*').
    return "".join(c if _CPE_PLAIN.match(c) else "\\" + c for c in text) or "*"


def cpe(vendor: str, product: str, version: str) -> str:
    """A CPE 2.3 formatted string for an application: ``cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:...``."""
    fields = [_cpe_value(vendor.lower()), _cpe_value(product.lower()), _cpe_value(version)]
    return "cpe:2.3:a:" + ":".join(fields) + ":*" * 7


def pep503_name(name: str) -> str:
    """A Python project name normalised as PEP 503 says (runs of ``-_.`` to ``-``, lower case)."""
    return re.sub(r"[-_.]+", "-", name).lower()
