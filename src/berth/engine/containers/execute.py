"""``exec``: run another process in a running container, through the runtime's ``exec``.

The process is the container's own ``process`` (runtime-spec config.md#process) with the command,
environment, user and working directory changed as asked, passed to the runtime as ``--process``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import subprocess
from pathlib import Path

from berth.engine.containers.state import refresh
from berth.engine.containers.users import resolve_user
from berth.engine.engine import Engine, new_id
from berth.engine.event_log import container_event
from berth.engine.metadata import RUNNING, ContainerRecord
from berth.engine.options import merge_env, parse_env
from berth.engine.rootfs import find_command
from berth.errors import InvalidArgument, InvalidState

_PR_SET_CHILD_SUBREAPER = 36


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
    record = refresh(engine, engine.db.container(ref))
    argv, process_file = prepare_exec(engine, record, command, tty, env, user, workdir)
    engine.close()
    container_event(engine.config, record, "exec")
    if detach:
        _run_in_background(argv, process_file)
        return 0
    try:
        proc = subprocess.run(argv, stdin=None if interactive else subprocess.DEVNULL)
    finally:
        process_file.unlink(missing_ok=True)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    container_event(engine.config, record, "exec_died")  # podman 4.3 gives no exit code here
    return code


def prepare_exec(
    engine: Engine,
    record: ContainerRecord,
    command: list[str],
    tty: bool = False,
    env: list[str] | None = None,
    user: str = "",
    workdir: str = "",
    pid_file: Path | None = None,
) -> tuple[list[str], Path]:
    """The runtime's ``exec`` command line for ``command`` in the running container, and the
    process file it reads (the caller removes it once the runtime is done); ``pid_file``: where the
    runtime writes the process's pid."""
    if not command:
        raise InvalidArgument("exec needs a command")
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
    process_file = paths.rundir / f"exec-{new_id()[:16]}.json"
    process_file.write_text(json.dumps(process))
    return engine.runtime(record.runtime).exec_argv(record.id, process_file, tty, pid_file), process_file


def _run_in_background(argv: list[str], process_file: Path) -> None:
    """Run the runtime's (foreground) exec in a detached session that reaps what it leaves.

    The runtime's own ``--detach`` would leave the process to whichever subreaper is above this
    command; a process of the container's pid namespace that nobody reaps keeps the container's
    init from ever finishing its exit. Here the runtime waits for its process, and a small session
    leader (a subreaper) waits for the runtime and removes the process file.
    """
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                subprocess.run(argv, stdin=null, stdout=null, stderr=null)
                process_file.unlink(missing_ok=True)
                with contextlib.suppress(ChildProcessError):
                    while os.waitpid(-1, 0):
                        pass
        finally:
            os._exit(0)
    os.waitpid(child, 0)
