"""Parse ``WWW-Authenticate`` headers (RFC 7235 section 4.1) into challenges.

A registry answers an unauthorized request with one or more challenges, e.g.
``Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"``
(the Docker registry token protocol) or ``Basic realm="registry"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 7230 section 3.2.6: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 7235 section 2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_SPACE = re.compile(r"[ \t]*")
# Unquoted values should be tokens, but some servers send URLs unquoted: accept up to a separator.
_LENIENT_VALUE = re.compile(r'[^\s,"]+')


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: a scheme (lower-cased) and its parameters (names lower-cased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None or not m.group():
            return None
        self.pos = m.end()
        return m.group()

    def quoted_string(self) -> str | None:
        # RFC 7230 section 3.2.6: quoted-string with backslash quoted-pairs.
        if self.peek() != '"':
            return None
        out = []
        i = self.pos + 1
        while i < len(self.text):
            c = self.text[i]
            if c == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
            elif c == '"':
                self.pos = i + 1
                return "".join(out)
            else:
                out.append(c)
                i += 1
        return None  # unterminated


def _param(scan: _Scanner) -> tuple[str, str] | None:
    """Read ``name = value`` at the cursor, or restore the cursor and return None."""
    start = scan.pos
    name = scan.match(_TOKEN)
    if name is not None:
        scan.skip_space()
        if scan.peek() == "=":
            scan.pos += 1
            scan.skip_space()
            value = scan.quoted_string()
            if value is None:
                value = scan.match(_LENIENT_VALUE)
            if value is not None:
                return name.lower(), value
    scan.pos = start
    return None


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in one ``WWW-Authenticate`` header value; malformed parts are skipped.

    >>> parse_challenges('Bearer realm="https://a/token",service="reg"')[0].params["service"]
    'reg'
    """
    scan = _Scanner(header)
    challenges: list[Challenge] = []
    while True:
        scan.skip_space()
        while scan.peek() == ",":
            scan.pos += 1
            scan.skip_space()
        if scan.at_end():
            return challenges
        scheme = scan.match(_TOKEN)
        if scheme is None:
            scan.pos += 1  # not a scheme: resynchronise on the next character
            continue
        params: dict[str, str] = {}
        token68 = None
        if scan.peek() in (" ", "\t"):
            scan.skip_space()
            start = scan.pos
            first = _param(scan)
            if first is None:
                token68 = scan.match(_TOKEN68)
                if token68 is not None and scan.peek() not in ("", ",", " ", "\t"):
                    token68, scan.pos = None, start
            else:
                params[first[0]] = first[1]
                _more_params(scan, params)
        challenges.append(Challenge(scheme.lower(), params, token68))


def _more_params(scan: _Scanner, params: dict[str, str]) -> None:
    """Read ``, name=value`` pairs until the next challenge's scheme or the end."""
    while True:
        save = scan.pos
        scan.skip_space()
        if scan.peek() != ",":
            scan.pos = save
            return
        while scan.peek() == ",":
            scan.pos += 1
            scan.skip_space()
        pair = _param(scan)
        if pair is None:
            scan.pos = save  # a new challenge (or junk) starts here
            return
        params.setdefault(pair[0], pair[1])
