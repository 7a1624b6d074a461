"""A cache of compiled seccomp programs, so libseccomp runs once per profile, not once per container.

Compiling podman's default profile for x86_64, x86 and x32 takes libseccomp ~15 ms; most containers
on a host share a handful of profiles. Entries are keyed by the SHA-256 of the canonical profile JSON
and the libseccomp version, and are trusted only in a directory that this user owns and no one else
can write (a forged entry would weaken the filter).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

from berth.fsutil import atomic_write

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_FORMAT = b"berth-seccomp-cache-1"


def key(seccomp: Mapping[str, Any], libseccomp_version: str) -> str:
    """The cache key of a profile compiled by this libseccomp."""
    canonical = json.dumps(seccomp, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(_FORMAT + libseccomp_version.encode() + b"\0" + canonical).hexdigest()


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def load(cache_dir: str, entry: str) -> tuple[bytes, int] | None:
    """(program, flags) stored under ``entry``, or None when absent, malformed or not trustworthy."""
    path = os.path.join(cache_dir, entry)
    try:
        if not _private(os.stat(cache_dir)):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not _private(os.fstat(fd)):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read()
    finally:
        os.close(fd)
    program = data[4:]
    if len(data) < 4 or not program or len(program) % 8:
        return None
    return program, int.from_bytes(data[:4], "little")


def store(cache_dir: str, entry: str, program: bytes, flags: int) -> None:
    """Keep a compiled program; a cache that cannot be written is simply not used."""
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        if not _private(os.stat(cache_dir)):
            return
        atomic_write(os.path.join(cache_dir, entry), flags.to_bytes(4, "little") + program, mode=0o600)
    except OSError:
        return
