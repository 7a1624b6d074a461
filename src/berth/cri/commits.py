"""Whether anyone committed to a SQLite database in WAL mode since last asked, in one pread(2).

``PRAGMA data_version`` on a held connection answers that, but each asking is a read transaction:
SQLite takes and drops a lock on the ``-shm`` file with fcntl(2) around it, and runs a statement,
on every ListContainers. A ``CommitMarker`` reads what the commit itself writes instead.

The first 96 bytes of ``DATABASE-shm`` are the WAL-index header, twice (a 48-byte header holding
``mxFrame``, the last frame of the last commit, the WAL's salts and a checksum;
https://www.sqlite.org/walformat.html §2.1). A transaction becomes visible to readers when its writer
writes that header, and every commit changes it: it adds frames (``mxFrame`` grows), or, when a
checkpoint let the WAL start over, it starts with new salts. Readers never write it. So the header
changes whenever ``data_version`` would; it also changes when a checkpoint restarts the WAL, which
only costs one answer built again. Every process that opens the database shares this file (it is
how they see each other's commits), so its layout holds across SQLite's versions.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The WAL-index header's two copies (walformat.html §2.1).
HEADER_BYTES = 96


class CommitMarker:
    """The WAL-index header of a database whose ``-shm`` file exists (a connection to it in WAL
    mode is held open while this is used)."""

    def __init__(self, database: Path) -> None:
        # Held until ``close``, after SQLite's connections: closing any descriptor of a file drops
        # every POSIX lock the process holds on it (fcntl(2)), SQLite's own included.
        self._fd = os.open(f"{database}-shm", os.O_RDONLY | os.O_CLOEXEC)

    def read(self) -> bytes:
        """The header now: different bytes from the last read if anyone committed since."""
        return os.pread(self._fd, HEADER_BYTES, 0)

    def close(self) -> None:
        """Close the ``-shm`` file (after the connections to the database are closed)."""
        os.close(self._fd)
