"""Writing a tar archive so that readers see the old file or the complete new one, never a part.

with atomic_tar(Path("bb.tar")) as tar:
    add_bytes(tar, "manifest.json", b"[]")
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from berth.fsutil import fsync_dir


@contextmanager
def atomic_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """A PAX tar written beside ``archive`` and renamed over it (after an fsync) once complete.

    An error inside the block removes the partial file and leaves ``archive`` as it was.
    """
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            yield tar
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.rename(partial, archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_dir(archive.parent)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a regular file ``name`` (mode 0644) holding ``data``."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
