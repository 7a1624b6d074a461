"""Output helpers for the CLI: aligned tables (podman's look) and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
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


def short_id(cid: str) -> str:
    """The 12-character id shown in tables."""
    return cid[:12]
