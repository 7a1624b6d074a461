"""ARG and ENV substitution into a Containerfile's words (Dockerfile reference, "Environment
replacement").

``$NAME`` and ``${NAME}`` give a variable's value; ``${NAME:-word}`` gives ``word`` when NAME is
unset or empty (``${NAME-word}`` only when unset), ``${NAME:+word}`` gives ``word`` when NAME is set
and not empty (``${NAME+word}`` when set), ``${NAME:?message}`` fails when it is unset or empty. The
escape character makes the next character literal; single quotes keep everything literal, double
quotes keep all but substitutions; the quotes themselves are removed.

    Expander({"A": "1"}).word('"$A"-${B:-two}')  # "1-two"
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from berth.errors import InvalidArgument

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_BLANKS = " \t\n"
_BLANK_RUN = re.compile(r"[ \t\n]+")


class ExpansionError(InvalidArgument):
    """A word whose substitutions cannot be made (unterminated quote or brace, ``${X:?}`` unset)."""


class Expander:
    """Substitutes ``variables`` into words; ``used`` collects the names looked up (for the cache)."""

    def __init__(self, variables: Mapping[str, str], escape: str = "\\") -> None:
        self.variables = variables
        self.escape = escape
        self.used: set[str] = set()

    def word(self, text: str) -> str:
        """``text`` as one word: substitutions made, quotes and escapes removed, blanks kept."""
        return _Scan(self, text).pieces(split=False)[0]

    def words(self, text: str) -> list[str]:
        """``text`` split at unquoted blanks (also those a substitution brings), then as ``word``."""
        return _Scan(self, text).pieces(split=True)

    def lookup(self, name: str) -> str | None:
        self.used.add(name)
        return self.variables.get(name)


class _Scan:
    """One pass over a text, with the position reached."""

    def __init__(self, expander: Expander, text: str) -> None:
        self.ex = expander
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def pieces(self, split: bool, stop: str = "") -> list[str]:
        """The words up to ``stop`` (one word, blanks kept, unless ``split``)."""
        words: list[str] = []
        current: list[str] = []
        solid = False  # the word holds more than unquoted substitutions, so it stays even if empty

        def end_word() -> None:
            nonlocal current, solid
            if solid or "".join(current):
                words.append("".join(current))
            current, solid = [], False

        while self.pos < len(self.text) and self.peek() != stop:
            ch = self.take()
            if split and ch in _BLANKS:
                end_word()
            elif ch == "$":
                value = self._substitution()
                # An unquoted substitution splits at its blanks, as a shell's field splitting does.
                fields = _BLANK_RUN.split(value) if split else [value]
                current.append(fields[0])
                for field in fields[1:]:
                    end_word()
                    current.append(field)
            else:
                solid = True
                if ch == self.ex.escape:
                    current.append(self.take() if self.pos < len(self.text) else ch)
                elif ch == "'":
                    current.append(self._until_quote("'"))
                elif ch == '"':
                    current.append(self._double_quoted())
                else:
                    current.append(ch)
        if not split:
            return ["".join(current)]
        end_word()
        return words

    def _until_quote(self, quote: str) -> str:
        end = self.text.find(quote, self.pos)
        if end < 0:
            raise ExpansionError(f"unexpected end of text looking for the matching {quote}")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise ExpansionError('unexpected end of text looking for the matching "')
            ch = self.take()
            if ch == '"':
                return "".join(out)
            if ch == self.ex.escape and self.peek() in ('"', "$", self.ex.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self._substitution())
            else:
                out.append(ch)

    def _substitution(self) -> str:
        if self.peek() == "{":
            self.pos += 1
            return self._braced()
        start = self.pos
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        if start == self.pos:
            return "$"  # a lone $ is literal
        return self.ex.lookup(self.text[start : self.pos]) or ""

    def _braced(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        name = self.text[start : self.pos]
        if not name or name[0] not in _NAME_START:
            raise ExpansionError(f"bad substitution: want a variable name after ${{ in {self.text!r}")
        if self.peek() == "}":
            self.pos += 1
            return self.ex.lookup(name) or ""
        colon = self.peek() == ":"
        if colon:
            self.pos += 1
        modifier = self.take()
        if not modifier:
            raise ExpansionError(f"missing }} in ${{{name}...")
        if modifier not in ("-", "+", "?"):
            raise ExpansionError(f"unsupported modifier {modifier!r} in ${{{name}...}}")
        word = self.pieces(split=False, stop="}")[0]
        if self.take() != "}":
            raise ExpansionError(f"missing }} in ${{{name}...")
        value = self.ex.lookup(name)
        present = value is not None and (value != "" or not colon)
        if modifier == "-":
            return value if present and value is not None else word
        if modifier == "+":
            return word if present else ""
        if not present:
            raise ExpansionError(f"{name}: {word or 'is not set'}")
        return value or ""


def raw_words(text: str, escape: str = "\\") -> list[str]:
    """``text`` split at blanks outside quotes, quotes and escapes kept (a word as written)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    pos = 0
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch == escape and quote != "'" and pos < len(text):
            current += [ch, text[pos]]
            pos += 1
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _BLANKS:
            if current:
                words.append("".join(current))
            current = []
            continue
        current.append(ch)
    if current:
        words.append("".join(current))
    return words
