"""Looking inside a container's root filesystem from the host, without escaping it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from berth.errors import BerthError

_MAX_LINKS = 40


class CommandNotFound(BerthError):
    """The container's command does not exist (podman's exit status 127)."""

    exit_code = 127


class CommandNotExecutable(BerthError):
    """The container's command exists but cannot be run (podman's exit status 126)."""

    exit_code = 126


def resolve_in_root(root: Path, path: str) -> Path:
    """The host path of ``path`` inside ``root``, with symlinks followed as if ``root`` were ``/``."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except OSError:
            is_link = False
        if is_link:
            links += 1
            if links > _MAX_LINKS:
                raise BerthError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


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
