"""Output helpers for the CLI: aligned tables (podman's look) and JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers``, columns padded to their widest cell, three spaces apart."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = sys.stdout
    for row in cells:
        line = "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        out.write((line + "   " + row[-1] if len(row) > 1 else row[-1]).rstrip() + "\n")


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    sys.stdout.write(json.dumps(value, indent=4, default=str) + "\n")


def add_listing_flags(p: argparse.ArgumentParser) -> None:
    """``-q`` and ``--format`` for an ``ls`` verb whose output ``print_listing`` prints."""
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default="", choices=["", "json", "table"])


def print_listing(
    args: argparse.Namespace,
    names: Sequence[str],
    docs: Sequence[dict[str, Any]],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """An ``ls`` verb's output: ``names`` one a line with ``-q``, ``docs`` with ``--format json``,
    else ``rows`` as a table under ``headers``."""
    if args.quiet:
        for name in names:
            print(name)
    elif args.format == "json":
        print_json(docs)
    else:
        print_table(headers, rows)


def short_id(cid: str) -> str:
    """The 12-character id shown in tables."""
    return cid[:12]


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter with the terminal width looked up once per process.

    argparse makes a formatter for every ``add_argument`` (to check metavars), and the default one
    asks the terminal for its size each time: about 0.1 ms apiece, tens of milliseconds for
    ``berth``'s few hundred arguments on every command. It is every parser's default
    (``berth.cli.main.ArgumentParser``).
    """

    _columns: int | None = None

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ):
        if width is None:
            if HelpFormatter._columns is None:
                HelpFormatter._columns = terminal_columns() - 2  # argparse's own margin
            width = HelpFormatter._columns
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it ($COLUMNS, then standard
    output's terminal, then 80), without importing shutil (and its lzma and bz2: ~2 ms a command)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def render_template(fmt: str, doc: dict[str, Any]) -> str:
    """A tiny subset of Go templates: ``{{.State.OOMKilled}}``-style field paths into ``doc``."""
    import re

    from berth.errors import InvalidArgument

    def field(match: re.Match[str]) -> str:
        value: Any = doc
        for part in match.group(1).split("."):
            if not isinstance(value, dict) or part not in value:
                raise InvalidArgument(f"invalid --format {fmt!r}: no field {match.group(1)!r}")
            value = value[part]
        return str(value).lower() if isinstance(value, bool) else str(value)

    return re.sub(r"\{\{\s*\.([A-Za-z0-9_.]+)\s*\}\}", field, fmt)


def parse_bool(text: str) -> bool:
    """A boolean flag's value as podman takes it (``--tls-verify=false``)."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"want true or false, got {text!r}")
