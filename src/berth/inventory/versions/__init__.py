"""Version comparison by each ecosystem's own rules, one module per scheme.

Each module has ``compare(a, b)``: -1, 0 or 1 as ``a`` sorts before, equal to or after ``b``, and
raises ``VersionError`` for a version its scheme cannot read::

    from berth.inventory.versions import compare
    compare("dpkg", "1:1.0~rc1-1", "1:1.0-1")  # -1
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

#: The schemes and the module of each.
SCHEMES = ("dpkg", "apk", "pep440", "semver", "maven")

Compare = Callable[[str, str], int]


class VersionError(ValueError):
    """A version its scheme cannot read (the message names the version and the problem)."""


def comparator(scheme: str) -> Compare:
    """The ``compare`` of ``scheme`` (one of ``SCHEMES``)."""
    if scheme not in SCHEMES:
        raise KeyError(scheme)
    compare_in_scheme: Compare = importlib.import_module(f"berth.inventory.versions.{scheme}").compare
    return compare_in_scheme


def compare(scheme: str, a: str, b: str) -> int:
    """Compare ``a`` and ``b`` by the rules of ``scheme``."""
    return comparator(scheme)(a, b)


def sign(value: int) -> int:
    """-1, 0 or 1 as ``value`` is negative, zero or positive."""
    return (value > 0) - (value < 0)
