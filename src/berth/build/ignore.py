"""``.containerignore`` and ``.dockerignore``: which context paths a build may not see.

The rules are Docker's (moby/patternmatcher, and the Dockerfile reference's ".dockerignore file"):
one pattern a line, ``#`` comments, blanks trimmed, each pattern cleaned and taken relative to the
context root; ``*`` and ``?`` stay within one path component, ``**`` spans any number of them
(none included); a pattern that matches a directory excludes everything below it; a ``!`` pattern
re-includes, and the last pattern that matches a path decides.

    rules = IgnoreRules.parse("*.log\\n!keep.log\\nbuild/\\n")
    rules.excludes("a.log"), rules.excludes("keep.log"), rules.excludes("build/x/y")  # True False True
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

#: The files read, first found wins (buildah reads .containerignore before .dockerignore).
IGNORE_FILES = (".containerignore", ".dockerignore")
_REGEX_SPECIALS = frozenset(".+()|{}$^")


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    regex: re.Pattern[str]
    exclusion: bool


class IgnoreRules:
    """An ignore file's patterns in order; ``excludes`` says whether a context path is left out."""

    def __init__(self, patterns: list[_Pattern]) -> None:
        self.patterns = patterns

    @classmethod
    def parse(cls, text: str, filename: str = ".dockerignore") -> IgnoreRules:
        """The rules of an ignore file's ``text``; ``InvalidArgument`` naming a bad line."""
        patterns = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
                if not line:
                    raise InvalidArgument(f"{filename}:{number}: illegal exclusion pattern '!'")
            cleaned = posixpath.normpath(line).lstrip("/") or "."
            try:
                regex = re.compile(translate(cleaned))
            except re.error as err:
                raise InvalidArgument(f"{filename}:{number}: bad pattern {line!r}: {err}") from None
            patterns.append(_Pattern(cleaned, regex, exclusion))
        return cls(patterns)

    @classmethod
    def read(cls, context: Path) -> IgnoreRules:
        """The rules of ``context``'s ``.containerignore`` or else ``.dockerignore`` (none: empty)."""
        for name in IGNORE_FILES:
            path = context / name
            if path.is_file():
                return cls.parse(path.read_text(errors="surrogateescape"), name)
        return cls([])

    def excludes(self, path: str) -> bool:
        """Whether the context-relative ``path`` (or a directory above it) is excluded."""
        if not self.patterns:
            return False
        path = posixpath.normpath(path).lstrip("/")
        parts = path.split("/")
        # patternmatcher's MatchesOrParentMatches: the path itself or any directory above it.
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        excluded = False
        for pattern in self.patterns:
            if pattern.exclusion != excluded:
                continue  # only a pattern of the other kind can change the answer
            if any(pattern.regex.match(candidate) for candidate in candidates):
                excluded = not pattern.exclusion
        return excluded

    @property
    def has_exceptions(self) -> bool:
        """Whether a ``!`` pattern may bring back paths inside an excluded directory."""
        return any(p.exclusion for p in self.patterns)


def translate(pattern: str) -> str:
    """A cleaned pattern as an anchored regular expression (patternmatcher's compile)."""
    out = ["^"]
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*" and pattern[pos : pos + 1] == "*":
            pos += 1
            if pattern[pos : pos + 1] == "/":
                pos += 1  # `**/` is `**`
            out.append(".*" if pos >= len(pattern) else "(.*/)?")
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and pos < len(pattern):
            out.append(re.escape(pattern[pos]))
            pos += 1
        elif ch == "[" and pattern[pos : pos + 1] == "!":
            out.append("[^")  # Go's filepath.Match negates a class with `!`
            pos += 1
        elif ch in _REGEX_SPECIALS or ch == "\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append("$")
    return "".join(out)
