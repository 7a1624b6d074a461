"""``list``: the containers under ``--root``, as a table (runc's columns), JSON, or ids (``-q``)."""

from __future__ import annotations

import json

from berth.errors import NotFound
from berth.runtime import container


def list_containers(root: str, fmt: str = "table", quiet: bool = False) -> str:
    """The listing text, ending in a newline unless empty."""
    states = []
    for cid in container.list_ids(root):
        try:
            states.append(container.load(root, cid).oci_state())
        except (NotFound, ValueError):
            continue  # deleted or being written meanwhile
    if quiet:
        return "".join(f"{s['id']}\n" for s in states)
    if fmt == "json":
        return json.dumps(states) + "\n"
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + "   " + row[5] + "\n"
        for row in rows
    )
