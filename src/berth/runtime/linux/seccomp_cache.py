"""A cache of compiled seccomp programs, so libseccomp runs once per profile, not once per container.

Compiling podman's default profile for x86_64, x86 and x32 takes libseccomp ~15 ms; most containers
on a host share a handful of profiles. Entries are keyed by the SHA-256 of the canonical profile JSON
and of the libseccomp the dynamic linker loads (its path, size, inode and modification time: a new
build of the library makes new keys), and are trusted only in a directory that this user owns and
no one else can write (a forged entry would weaken the filter).

A hit costs no ``ctypes``, ``json`` or ``hashlib`` import (together ~14 ms of a runtime's start):
the library is found with ``_ctypes.dlopen`` and ``/proc/self/maps``, the profile encoded by
``_json``'s encoder and hashed by the C module behind ``hashlib.sha256``.
"""

from __future__ import annotations

import os
import stat

from berth.fsutil import atomic_write
from berth.runtime import jsontext

try:
    from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # Python 3.12 and later
except ImportError:
    from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

_FORMAT = b"berth-seccomp-cache-2"
#: The library ``berth.runtime.linux.seccomp`` compiles with.
LIBRARY = "libseccomp.so.2"


def library_identity() -> str | None:
    """The libseccomp file that ``LIBRARY`` loads, as ``path:size:inode:mtime``; None when it
    cannot be loaded (the compile then says so)."""
    import _ctypes

    try:
        _ctypes.dlopen(LIBRARY, _ctypes.RTLD_LOCAL)
    except OSError:
        return None
    with open("/proc/self/maps", "rb") as fh:
        maps = fh.read()
    for line in maps.split(b"\n"):
        slash = line.find(b"/")
        if slash > 0 and os.path.basename(line[slash:]).startswith(b"libseccomp.so"):
            path = line[slash:].decode()
            st = os.stat(path)
            return f"{path}:{st.st_size}:{st.st_ino}:{st.st_mtime_ns}"
    return None


def key(seccomp: Mapping[str, Any], library: str) -> str:
    """The cache key of a profile compiled by the libseccomp ``library`` (``library_identity``)."""
    canonical = jsontext.dumps_canonical(seccomp).encode()
    return str(sha256(_FORMAT + library.encode() + b"\0" + canonical).hexdigest())


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


def program(
    cache_dir: str, seccomp: Mapping[str, Any], make: Callable[[], tuple[bytes, int]]
) -> tuple[bytes, int]:
    """(program, flags) of ``seccomp``: read from ``cache_dir``, else made by ``make`` and kept
    there. Without a loadable libseccomp there is no key: ``make`` runs, and says what is wrong."""
    library = library_identity()
    entry = key(seccomp, library) if library is not None else None
    found = load(cache_dir, entry) if entry is not None else None
    if found is None:
        found = make()
        if entry is not None:
            store(cache_dir, entry, *found)
    return found
