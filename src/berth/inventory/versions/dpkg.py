"""Debian package versions: ``[epoch:]upstream_version[-debian_revision]`` compared as Debian Policy
5.6.12 says (the algorithm of ``dpkg --compare-versions``)."""

from __future__ import annotations

from berth.inventory.versions import VersionError, sign

_DIGITS = frozenset("0123456789")
_ALLOWED = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~-:")


def parse(version: str) -> tuple[int, str, str]:
    """``(epoch, upstream_version, debian_revision)``; ``VersionError`` if it is not a version."""
    text = version.strip()
    epoch_text, colon, rest = text.partition(":")
    if not colon:
        epoch_text, rest = "0", text
    if not epoch_text or not set(epoch_text) <= _DIGITS:
        raise VersionError(f"version {version!r}: the epoch is not a number")
    # Policy 5.6.12: the revision follows the last hyphen; without one there is no revision.
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    if not upstream:
        raise VersionError(f"version {version!r}: empty upstream version")
    if not set(rest) <= _ALLOWED:
        raise VersionError(f"version {version!r}: a character a version may not hold")
    return int(epoch_text), upstream, revision


def _order(char: str) -> int:
    # Policy 5.6.12: in the non-digit parts, '~' sorts before everything, even the end of the
    # part; letters sort before all other characters; the end of the part comes next.
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _split(part: str) -> list[str]:
    """``part`` as alternating runs, a non-digit run first (possibly empty), then digits, ..."""
    runs: list[str] = []
    index = 0
    while index < len(part):
        want_digits = len(runs) % 2 == 1
        end = index
        while end < len(part) and (part[end] in _DIGITS) == want_digits:
            end += 1
        runs.append(part[index:end])
        index = end
    return runs


def _compare_part(a: str, b: str) -> int:
    """Compare two upstream versions or two revisions, run by run."""
    runs_a, runs_b = _split(a), _split(b)
    for index in range(max(len(runs_a), len(runs_b))):
        run_a = runs_a[index] if index < len(runs_a) else ""
        run_b = runs_b[index] if index < len(runs_b) else ""
        if index % 2:
            result = sign(int(run_a or "0") - int(run_b or "0"))
        else:
            # The end of a run sorts after '~' and before everything else: order 0.
            width = max(len(run_a), len(run_b))
            keys_a = [_order(c) for c in run_a] + [0] * (width - len(run_a))
            keys_b = [_order(c) for c in run_b] + [0] * (width - len(run_b))
            result = (keys_a > keys_b) - (keys_a < keys_b)
        if result:
            return result
    return 0


def compare(a: str, b: str) -> int:
    """Compare two Debian versions: epochs as numbers, then upstream versions, then revisions."""
    epoch_a, upstream_a, revision_a = parse(a)
    epoch_b, upstream_b, revision_b = parse(b)
    return (
        sign(epoch_a - epoch_b)
        or _compare_part(upstream_a, upstream_b)
        or _compare_part(revision_a, revision_b)
    )
