"""Semantic versions (SemVer 2.0.0), as npm and Go modules use them.

``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, ordered as SemVer 2.0.0 section 11 says; build metadata
does not count. A leading ``v`` (Go: ``v1.2.3``) or ``=`` (npm) is allowed. Go's pseudo-versions
(``v0.0.0-20191109021931-daa7c04131f5``, ``v1.2.4-0.20191109021931-daa7c04131f5``) are pre-releases
and sort by their timestamp as the rules give; ``+incompatible`` is build metadata.
"""

from __future__ import annotations

import re

from berth.inventory.versions import VersionError

# SemVer 2.0.0: numbers have no leading zeros; identifiers are [0-9A-Za-z-], non-empty.
_NUMBER = r"(?:0|[1-9][0-9]*)"
_IDENTIFIER = r"(?:[0-9A-Za-z-]+)"
_VERSION = re.compile(
    rf"^[v=]?({_NUMBER})\.({_NUMBER})\.({_NUMBER})"
    rf"(?:-({_IDENTIFIER}(?:\.{_IDENTIFIER})*))?(?:\+{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?$"
)

#: A pre-release identifier's key: numeric ones sort before alphanumeric ones.
Identifier = tuple[int, int, str]
Key = tuple[int, int, int, int, tuple[Identifier, ...]]


def key(version: str) -> Key:
    """A sort key of ``version``; ``VersionError`` if it is not a semantic version."""
    match = _VERSION.match(version.strip())
    if match is None:
        raise VersionError(f"version {version!r}: not a semantic version (MAJOR.MINOR.PATCH)")
    major, minor, patch, pre = match.groups()
    # Section 11.3: a pre-release version sorts before the release.
    identifiers = tuple(_identifier(part) for part in pre.split(".")) if pre else ()
    return (int(major), int(minor), int(patch), 0 if pre else 1, identifiers)


def _identifier(part: str) -> Identifier:
    # Section 11.4: numeric identifiers compare as numbers and sort before alphanumeric ones,
    # which compare in ASCII order; a longer list of equal leading identifiers sorts later.
    if part.isdigit():
        return (0, int(part), "")
    return (1, 0, part)


def compare(a: str, b: str) -> int:
    """Compare two semantic versions."""
    key_a, key_b = key(a), key(b)
    return (key_a > key_b) - (key_a < key_b)
