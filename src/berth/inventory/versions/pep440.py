"""Python versions as PEP 440 orders them (its normalisation included: ``1.0.RC1`` is ``1.0rc1``).

``[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]``: epoch, then the release (trailing zeros do not
count), then pre-releases before the release, post-releases after it, developmental releases before
whatever they precede; a local version sorts after the same public version.
"""

from __future__ import annotations

import re

from berth.inventory.versions import VersionError

# PEP 440 "Appendix B: Parsing version strings with regular expressions", the permissive form.
_VERSION = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
#: PEP 440 "Pre-release spelling": the alternative spellings of a, b and rc.
_PRE_SPELLING = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc"}

Key = tuple[
    int,
    tuple[int, ...],
    tuple[int, str, int],
    tuple[int, int],
    tuple[int, int],
    tuple[tuple[int, int, str], ...],
]


def key(version: str) -> Key:
    """A sort key of ``version``; ``VersionError`` if it is not a PEP 440 version."""
    match = _VERSION.match(version)
    if match is None:
        raise VersionError(f"version {version!r}: not a PEP 440 version")
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre_letter = match["pre_l"]
    if pre_letter:
        pre = (0, _PRE_SPELLING.get(pre_letter.lower(), "rc"), int(match["pre_n"] or 0))
    elif match["dev"] and not match["post"]:
        pre = (-1, "", 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (1, "", 0)
    # Without a part, a version sorts before the same with a post-release, after it with a dev one.
    post = (1, int(match["post_n1"] or match["post_n2"] or 0)) if match["post"] else (0, 0)
    dev = (0, int(match["dev_n"] or 0)) if match["dev"] else (1, 0)
    return (int(match["epoch"] or 0), tuple(release), pre, post, dev, _local(match["local"]))


def _local(local: str | None) -> tuple[tuple[int, int, str], ...]:
    # PEP 440 "Local version identifiers": segments compare as numbers when numeric, as lower-case
    # text otherwise; a numeric segment sorts after a text one; more segments sort later.
    if local is None:
        return ()
    segments = re.split(r"[-_.]", local.lower())
    return tuple((1, int(s), "") if s.isdigit() else (0, 0, s) for s in segments)


def compare(a: str, b: str) -> int:
    """Compare two PEP 440 versions."""
    key_a, key_b = key(a), key(b)
    return (key_a > key_b) - (key_a < key_b)
