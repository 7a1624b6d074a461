"""Looking inside a container's root filesystem from the host, without escaping it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from berth import fsutil
from berth.errors import BerthError


class CommandNotFound(BerthError):
    """The container's command does not exist (podman's exit status 127)."""

    exit_code = 127


class CommandNotExecutable(BerthError):
    """The container's command exists but cannot be run (podman's exit status 126)."""

    exit_code = 126


def resolve_in_root(root: Path, path: str) -> Path:
    """The host path of ``path`` inside ``root``, with symlinks followed as if ``root`` were ``/``."""
    return Path(fsutil.resolve_in_root(str(root), path))


def find_command(root: Path, command: str, env: list[str], cwd: str) -> None:
    """Check that ``command`` would run in ``root`` (PATH lookup as execvp does); raise 127 or 126."""
    if "/" in command:
        candidates = [command if command.startswith("/") else f"{cwd.rstrip('/')}/{command}"]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/bin:/bin")
        candidates = [f"{d.rstrip('/') or ''}/{command}" for d in path.split(":") if d]
    found_non_exec = None
    for cand in candidates:
        host = resolve_in_root(root, cand)
        try:
            st = os.stat(host)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return
        found_non_exec = cand
    if found_non_exec is not None:
        raise CommandNotExecutable(f"{found_non_exec}: permission denied: cannot execute it in the container")
    raise CommandNotFound(f"{command}: executable file not found in the container's $PATH")
