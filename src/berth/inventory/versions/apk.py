"""Alpine package versions as apk-tools compares them:
``digits{.digits}[letter]{_suffix[digits]}[~hash][-rDIGITS]``.

A version is read as tokens; equal leading tokens compare by value (numbers as numbers, but as
text when either has a leading zero, as Gentoo does; suffixes in the order
alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p). When one version has a token the
other has not, the longer one is greater, unless its extra token is a pre-release suffix.
"""

from __future__ import annotations

import re
from enum import IntEnum

from berth.inventory.versions import VersionError, sign


class _Kind(IntEnum):
    # The order matters: where the two versions' token kinds differ, the later kind is the lesser.
    INITIAL_DIGIT = 0
    DIGIT = 1
    LETTER = 2
    SUFFIX = 3
    SUFFIX_NO = 4
    COMMIT_HASH = 5
    REVISION_NO = 6
    END = 7


_PRE_RELEASE = ("alpha", "beta", "pre", "rc")
_POST_RELEASE = ("cvs", "svn", "git", "hg", "p")
#: Suffix ranks: the pre-release ones below 0 (no suffix), the others above.
_SUFFIX_RANK = {
    **{s: i - len(_PRE_RELEASE) for i, s in enumerate(_PRE_RELEASE)},
    **{s: i + 1 for i, s in enumerate(_POST_RELEASE)},
}
#: Which kind may follow each kind (a letter only after digits, one hash, one revision, at the end).
_TOKEN = re.compile(r"\.(?P<digit>[0-9]+)|(?P<letter>[a-z])|_(?P<suffix>[a-z]+)|(?P<suffix_no>[0-9]+)"
                    r"|~(?P<hash>[0-9a-fA-F]+)|-r(?P<revision>[0-9]+)")  # fmt: skip
_FOLLOWS = {
    _Kind.DIGIT: {_Kind.INITIAL_DIGIT, _Kind.DIGIT},
    _Kind.LETTER: {_Kind.INITIAL_DIGIT, _Kind.DIGIT},
    _Kind.SUFFIX: {_Kind.INITIAL_DIGIT, _Kind.DIGIT, _Kind.LETTER, _Kind.SUFFIX, _Kind.SUFFIX_NO},
    _Kind.SUFFIX_NO: {_Kind.SUFFIX},
    _Kind.COMMIT_HASH: {_Kind.INITIAL_DIGIT, _Kind.DIGIT, _Kind.LETTER, _Kind.SUFFIX, _Kind.SUFFIX_NO},
    _Kind.REVISION_NO: set(_Kind) - {_Kind.REVISION_NO, _Kind.END},
}
_GROUPS = {
    "digit": _Kind.DIGIT,
    "letter": _Kind.LETTER,
    "suffix": _Kind.SUFFIX,
    "suffix_no": _Kind.SUFFIX_NO,
    "hash": _Kind.COMMIT_HASH,
    "revision": _Kind.REVISION_NO,
}

Token = tuple[_Kind, str]


def tokens(version: str) -> list[Token]:
    """The tokens of ``version``, ending with END; ``VersionError`` if it is not an apk version."""
    initial = re.match(r"[0-9]+", version)
    if initial is None:
        raise VersionError(f"version {version!r}: does not start with a number")
    found: list[Token] = [(_Kind.INITIAL_DIGIT, initial.group())]
    position = initial.end()
    while position < len(version):
        match = _TOKEN.match(version, position)
        if match is None or match.lastgroup is None:
            raise VersionError(f"version {version!r}: unexpected {version[position:]!r}")
        kind, value = _GROUPS[match.lastgroup], match.group(match.lastgroup)
        if found[-1][0] not in _FOLLOWS[kind] or (kind is _Kind.SUFFIX and value not in _SUFFIX_RANK):
            raise VersionError(f"version {version!r}: unexpected {version[position:]!r}")
        found.append((kind, value))
        position = match.end()
    found.append((_Kind.END, ""))
    return found


def _compare_values(kind: _Kind, a: str, b: str) -> int:
    if kind is _Kind.DIGIT and (a.startswith("0") or b.startswith("0")):
        return (a > b) - (a < b)
    if kind in (_Kind.INITIAL_DIGIT, _Kind.DIGIT, _Kind.SUFFIX_NO, _Kind.REVISION_NO):
        return sign(int(a) - int(b))
    if kind is _Kind.SUFFIX:
        return sign(_SUFFIX_RANK[a] - _SUFFIX_RANK[b])
    return (a > b) - (a < b)


def _is_pre_release(token: Token) -> bool:
    return token[0] is _Kind.SUFFIX and _SUFFIX_RANK[token[1]] < 0


def compare(a: str, b: str) -> int:
    """Compare two apk versions."""
    for token_a, token_b in zip(tokens(a), tokens(b), strict=False):
        if token_a[0] is not token_b[0]:
            if _is_pre_release(token_a):
                return -1
            if _is_pre_release(token_b):
                return 1
            return sign(token_b[0] - token_a[0])
        result = _compare_values(token_a[0], token_a[1], token_b[1])
        if result:
            return result
    return 0
