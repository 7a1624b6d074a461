"""One tar entry's header, as a layer carries it (ustar, PAX and GNU headers folded together)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EntryType(enum.Enum):
    """The tar typeflags a layer may hold (layer.md#file-types)."""

    REGULAR = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR = "3"
    BLOCK = "4"
    DIR = "5"
    FIFO = "6"


@dataclass(slots=True)
class TarEntry:
    """A tar header: the name and metadata of one filesystem entry.

    ``name`` is the archive name with PAX ``path`` or GNU long names already applied, decoded as
    UTF-8 with ``surrogateescape`` (so any byte string round-trips through ``os`` calls); ``mode``
    holds the permission bits including setuid, setgid and sticky (``0o7777``); ``xattrs`` come
    from PAX ``SCHILY.xattr.*`` (or ``LIBARCHIVE.xattr.*``) records.
    """

    name: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    atime_ns: int | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)
    #: For a sparse file (GNU formats): the (offset, length) regions that hold data; ``size`` is
    #: then the file's full size and the rest is holes.
    sparse: list[tuple[int, int]] | None = None
