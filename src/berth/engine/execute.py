"""``exec``: run another process in a running container, through the runtime's ``exec``.

The process is the container's own ``process`` (runtime-spec config.md#process) with the command,
environment, user and working directory changed as asked, passed to the runtime as ``--process``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from berth.engine.engine import Engine, new_id
from berth.engine.metadata import RUNNING
from berth.engine.options import merge_env, parse_env
from berth.engine.rootfs import find_command
from berth.engine.state import refresh
from berth.engine.users import resolve_user
from berth.errors import InvalidArgument, InvalidState


def exec_in_container(
    engine: Engine,
    ref: str,
    command: list[str],
    interactive: bool = False,
    tty: bool = False,
    env: list[str] | None = None,
    user: str = "",
    workdir: str = "",
    detach: bool = False,
) -> int:
    """Run ``command`` in container ``ref`` with this process's stdio; return its exit code."""
    if not command:
        raise InvalidArgument("exec needs a command")
    record = refresh(engine, engine.db.container(ref))
    if record.state != RUNNING:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    paths = engine.paths(record.id)
    config = json.loads(paths.config_json.read_text())
    process = dict(config["process"])
    process["args"] = command
    process["terminal"] = tty
    process["env"] = merge_env(process["env"], parse_env(env or [], []))
    if workdir:
        process["cwd"] = workdir
    # The container's root as its init sees it, mounts included.
    root = Path(f"/proc/{record.pid}/root")
    if user:
        resolved = resolve_user(root, user)
        process["user"] = {
            "uid": resolved.uid,
            "gid": resolved.gid,
            "additionalGids": list(resolved.additional_gids),
        }
        if resolved.uid != 0:
            process["capabilities"] = {**process["capabilities"], "effective": [], "permitted": []}
    find_command(root, command[0], process["env"], process["cwd"])
    runtime = engine.runtime(record.runtime)
    process_file = paths.rundir / f"exec-{new_id()[:16]}.json"
    process_file.write_text(json.dumps(process))
    engine.close()
    try:
        proc = subprocess.run(
            runtime.exec_argv(record.id, process_file, tty, detach),
            stdin=None if interactive else subprocess.DEVNULL,
        )
    finally:
        process_file.unlink(missing_ok=True)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
