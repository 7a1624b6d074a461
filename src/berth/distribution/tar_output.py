"""Writing a tar archive so that readers see the old file or the complete new one, never a part.

with atomic_tar(Path("bb.tar")) as tar:
    add_bytes(tar, "manifest.json", b"[]")
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from berth.fsutil import AtomicFile


@contextmanager
def atomic_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """A PAX tar written beside ``archive`` and renamed over it (after an fsync) once complete.

    An error inside the block removes the partial file and leaves ``archive`` as it was.
    """
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        AtomicFile(archive, 0o666) as fh,
        tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        yield tar


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a regular file ``name`` (mode 0644) holding ``data``."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
