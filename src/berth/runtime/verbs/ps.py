"""``ps``: the container's processes: pids as JSON, or ps(1)'s table filtered to them."""

from __future__ import annotations

import json

from berth.errors import InvalidState
from berth.runtime import container
from berth.runtime.linux.cgroups import load_manager


def pids(root: str, container_id: str) -> list[int]:
    """Host pids of every process in the container's cgroup (or just its init without one)."""
    c = container.load(root, container_id)
    status = c.status()
    if status == container.STOPPED:
        return []
    if not c.cgroup:
        return [c.pid]
    return sorted(load_manager(c.cgroup).pids())


def ps(root: str, container_id: str, fmt: str, ps_args: list[str]) -> str:
    """``--format json``: a JSON array of pids; ``table``: ps(1) output for those pids."""
    found = pids(root, container_id)
    if fmt == "json":
        return json.dumps(found) + "\n"
    import subprocess

    out = subprocess.run(["ps", *(ps_args or ["-ef"])], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    if not lines:
        raise InvalidState("ps printed nothing")
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidState("ps output has no PID column")
    column = header.index("PID")
    keep = [lines[0]] + [ln for ln in lines[1:] if int(ln.split()[column]) in found]
    return "\n".join(keep) + "\n"
