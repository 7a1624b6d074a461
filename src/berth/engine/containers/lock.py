"""The container lock, which serialises a container's lifecycle steps across processes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from berth.engine.engine import Engine
from berth.fsutil import locked

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Iterator


#: The container locks this process holds (lock file -> nesting depth). Keyed by pid too, so a
#: monitor forked while its parent held a lock does not believe it holds it.
_held_locks: dict[tuple[int, Path], int] = {}


@contextlib.contextmanager
def container_lock(engine: Engine, cid: str) -> Iterator[None]:
    """Hold container ``cid``'s lock, which serialises its lifecycle steps across processes.

    Reentrant within one process, because the steps nest: the restart policy starts the container
    under the lock it checked the user's intent under, and ``start`` and ``refresh`` lock again.
    """
    key = (os.getpid(), engine.paths(cid).lock)
    depth = _held_locks.get(key, 0)
    with contextlib.nullcontext() if depth else locked(key[1]):
        _held_locks[key] = depth + 1
        try:
            yield
        finally:
            if depth:
                _held_locks[key] = depth
            else:
                del _held_locks[key]
