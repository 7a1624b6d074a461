"""A tar writer for layers: ustar headers, with a PAX extended header only when a field does not
fit (long names, large ids or sizes, xattrs as ``SCHILY.xattr.*``). The output depends only on
the entries given, so equal trees give equal bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from berth.image.layers.entry import EntryType, TarEntry
from berth.image.layers.errors import InvalidLayer

BLOCK = 512
_ZEROS = bytes(BLOCK)
_MAX_ID = 0o7777777
_MAX_SIZE = 0o77777777777
_COPY = 1 << 20


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_body(records: dict[str, bytes]) -> bytes:
    """Encode PAX records; each starts with its own length in decimal, that length included."""
    out = []
    for key, value in records.items():
        body = b" " + _encode(key) + b"=" + value + b"\n"
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length = len(str(length)) + len(body)
        out.append(str(length).encode() + body)
    return b"".join(out)


def _block(
    name: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    flag: bytes,
    linkname: bytes = b"",
    uname: bytes = b"",
    gname: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
) -> bytes:
    header = bytearray(BLOCK)
    header[0 : len(name)] = name
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(uid, 8)
    header[116:124] = _octal(gid, 8)
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(mtime, 12)
    header[148:156] = b" " * 8
    header[156:157] = flag
    header[157 : 157 + len(linkname)] = linkname
    header[257:265] = b"ustar\x0000"
    header[265 : 265 + len(uname)] = uname
    header[297 : 297 + len(gname)] = gname
    header[329:337] = _octal(devmajor, 8)
    header[337:345] = _octal(devminor, 8)
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) for ``entry``: a PAX ``x`` header first when needed, then ustar."""
    name = _encode(entry.name)
    linkname = _encode(entry.linkname)
    uname, gname = _encode(entry.uname)[:32], _encode(entry.gname)[:32]
    mtime = entry.mtime_ns // 1_000_000_000
    pax: dict[str, bytes] = {}
    if len(name) > 100:
        pax["path"] = name
    if len(linkname) > 100:
        pax["linkpath"] = linkname
    for key, value in (("uid", entry.uid), ("gid", entry.gid)):
        if value > _MAX_ID:
            pax[key] = str(value).encode()
    if entry.size > _MAX_SIZE:
        pax["size"] = str(entry.size).encode()
    if not 0 <= mtime <= _MAX_SIZE:
        pax["mtime"] = str(mtime).encode()
    for key in sorted(entry.xattrs):
        pax["SCHILY.xattr." + key] = entry.xattrs[key]
    blocks = []
    if pax:
        body = _pax_body(pax)
        pax_name = b"PaxHeaders/" + name.rstrip(b"/").rsplit(b"/", 1)[-1][:80]
        blocks.append(_block(pax_name, 0o644, 0, 0, len(body), 0, b"x"))
        blocks.append(body + bytes(-len(body) % BLOCK))
    blocks.append(
        _block(
            name[:100],
            entry.mode & 0o7777,
            min(entry.uid, _MAX_ID),
            min(entry.gid, _MAX_ID),
            min(entry.size, _MAX_SIZE),
            min(max(mtime, 0), _MAX_SIZE),
            entry.type.value.encode(),
            linkname[:100],
            uname,
            gname,
            entry.devmajor,
            entry.devminor,
        )
    )
    return b"".join(blocks)


class TarWriter:
    """Write entries to ``write`` (any callable taking bytes); ``close()`` ends the archive."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write

    def add(self, entry: TarEntry, data: int | Iterable[bytes] | None = None) -> None:
        """Write ``entry``; a regular file's ``entry.size`` bytes come from ``data`` (an open fd or
        an iterable of bytes). Raises ``InvalidLayer`` if the data is not exactly that long."""
        self._write(encode_header(entry))
        if entry.type is not EntryType.REGULAR or entry.size == 0:
            return
        written = 0
        chunks = _read_fd(data, entry.size) if isinstance(data, int) else (data or ())
        for chunk in chunks:
            self._write(chunk)
            written += len(chunk)
        if written != entry.size:
            raise InvalidLayer(f"{entry.name!r}: {written} bytes of data, header says {entry.size}")
        if entry.size % BLOCK:
            self._write(_ZEROS[: -entry.size % BLOCK])

    def close(self) -> None:
        """Write the end-of-archive marker (two zero blocks)."""
        self._write(_ZEROS * 2)


def _read_fd(fd: int, size: int) -> Iterable[bytes]:
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, _COPY))
        if not chunk:
            return  # the file shrank while being read: the caller reports the short count
        remaining -= len(chunk)
        yield chunk
