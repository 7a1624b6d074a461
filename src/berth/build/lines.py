"""A Containerfile's text as logical lines: parser directives, continuations, comments, heredocs.

This is the lexical half of the Dockerfile reference: it finds where each instruction starts and
ends, never what it means (``berth.build.instructions`` does that).

    source = read_lines("FROM busybox\\nRUN echo \\\\\\n  hi\\n", "Containerfile")
    source.lines[1].instruction, source.lines[1].rest  # ("RUN", "echo   hi")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.build.errors import ContainerfileError
from berth.build.expand import raw_words

#: Instructions whose arguments may name heredocs (Dockerfile reference, "Here-Documents").
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})

# Dockerfile reference, "Parser directives": `# directive=value`, names case-insensitive.
_DIRECTIVE = re.compile(r"^#[ \t]*([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*?)[ \t]*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_ESCAPES = ("\\", "`")
# A heredoc word: an optional file descriptor, `<<` or `<<-`, then the (maybe quoted) delimiter.
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]+)$")


@dataclass(frozen=True, slots=True)
class Heredoc:
    """One here-document: its delimiter, its text (each line ending in a newline) and how to treat it."""

    name: str
    content: str
    #: True unless the delimiter was quoted: ARG and ENV values are substituted into the content.
    expand: bool
    #: ``<<-``: leading tabs were stripped from each line (already done in ``content``).
    chomp: bool
    #: The descriptor the heredoc feeds (``3<<EOF``), 0 when none was written.
    fd: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    """One instruction as written: its line number, upper-cased keyword and the text after it."""

    number: int
    instruction: str
    rest: str
    heredocs: tuple[Heredoc, ...] = ()
    #: The file's escape character (``# escape=``), for splitting ``rest`` into words.
    escape: str = "\\"

    @property
    def original(self) -> str:
        """The instruction and its arguments on one line (continuations joined, heredocs aside)."""
        return f"{self.instruction} {self.rest}".rstrip()


@dataclass(frozen=True, slots=True)
class Source:
    """A Containerfile read into lines, with the escape character its directives chose."""

    filename: str
    escape: str
    lines: tuple[Line, ...]


def read_lines(text: str, filename: str) -> Source:
    """``text`` split into instructions; ``ContainerfileError`` naming the line of the first problem."""
    physical = text.removeprefix("\ufeff").split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    physical = [line.removesuffix("\r") for line in physical]
    escape, start = _directives(physical, filename)
    reader = _Reader(physical, start, escape, filename)
    return Source(filename, escape, tuple(reader.lines()))


def _directives(physical: list[str], filename: str) -> tuple[str, int]:
    """The escape character and the index of the first line after the parser directives."""
    seen: dict[str, str] = {}
    index = 0
    for index, line in enumerate(physical):
        match = _DIRECTIVE.match(line.strip())
        # A comment, blank line or instruction ends the directives; so does an unknown directive,
        # which is itself a comment.
        if match is None or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        name, value = match.group(1).lower(), match.group(2)
        if name in seen:
            raise ContainerfileError(filename, index + 1, f"only one {name} parser directive can be used")
        seen[name] = value
    else:
        index = len(physical)
    escape = seen.get("escape", "\\")
    if escape not in _ESCAPES:
        raise ContainerfileError(filename, 1, f"invalid escape token {escape!r}: want \\ or `")
    return escape, index


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


class _Reader:
    """Walks the physical lines once, joining continuations and collecting heredoc bodies."""

    def __init__(self, physical: list[str], start: int, escape: str, filename: str) -> None:
        self.physical = physical
        self.index = start
        self.filename = filename
        self.escape = escape
        # Dockerfile reference, "escape": the escape character at the very end of a line, maybe
        # followed by blanks, continues the instruction on the next line.
        self.continuation = re.compile(re.escape(escape) + r"[ \t]*$")

    def lines(self) -> list[Line]:
        out = []
        while self.index < len(self.physical):
            number = self.index + 1
            first = self.physical[self.index].lstrip()
            self.index += 1
            if not first or _is_comment(first):
                continue
            out.append(self._instruction(number, first))
        return out

    def _instruction(self, number: int, first: str) -> Line:
        text, more = self._strip_continuation(first)
        while more and self.index < len(self.physical):
            raw = self.physical[self.index]
            self.index += 1
            # Comments and blank lines inside a continued instruction are dropped.
            if _is_comment(raw) or not raw.strip():
                continue
            piece, more = self._strip_continuation(raw)
            text += piece
        keyword, rest = split_keyword(text.strip())
        instruction = keyword.upper()
        heredocs: tuple[Heredoc, ...] = ()
        if instruction in HEREDOC_INSTRUCTIONS and not rest.lstrip().startswith("["):
            heredocs = tuple(self._heredoc(number, *spec) for spec in heredoc_specs(rest, self.escape))
        return Line(number, instruction, rest, heredocs, self.escape)

    def _strip_continuation(self, line: str) -> tuple[str, bool]:
        stripped = self.continuation.sub("", line, count=1)
        return stripped, stripped != line

    def _heredoc(self, number: int, name: str, expand: bool, chomp: bool, fd: int) -> Heredoc:
        body: list[str] = []
        while self.index < len(self.physical):
            raw = self.physical[self.index]
            self.index += 1
            line = raw.lstrip("\t") if chomp else raw
            if line == name:
                return Heredoc(name, "".join(f"{b}\n" for b in body), expand, chomp, fd)
            body.append(line)
        raise ContainerfileError(self.filename, number, f"unterminated heredoc {name!r}")


def split_keyword(text: str) -> tuple[str, str]:
    """The first word of an instruction and the rest, split at the first run of blanks."""
    parts = re.split(r"[ \t]+", text, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def heredoc_specs(rest: str, escape: str) -> list[tuple[str, bool, bool, int]]:
    """``(name, expand, chomp, fd)`` of each heredoc word (``<<EOF``, ``<<-'EOF'``) in ``rest``."""
    specs = []
    for word in raw_words(rest, escape):
        match = _HEREDOC.match(word)
        if match is None:
            continue
        fd, chomp, name = match.groups()
        quoted = len(name) >= 2 and name[0] == name[-1] and name[0] in "'\""
        if quoted:
            name = name[1:-1]
        if not name:
            continue
        specs.append((name, not quoted, chomp == "-", int(fd or 0)))
    return specs
