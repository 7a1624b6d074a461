"""A streaming tar reader for layers: ustar, PAX (local and global) and GNU long names.

It reads a stream of chunks (``LayerReader.chunks()``), never seeks and never holds more than one
chunk plus one header in memory. File data is handed to the caller by reference to the chunk it
sits in, so writing a file costs no copies. Every malformation raises ``InvalidLayer`` naming the
byte offset of the bad header.

Usage::

    reader = TarReader(chunks)
    for entry in reader:
        if entry.type is EntryType.REGULAR:
            reader.write_data(fd)   # or reader.read_data(); unread data is skipped
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from urllib.parse import unquote_to_bytes

from berth.errors import Unsupported
from berth.image.layers.entry import EntryType, TarEntry
from berth.image.layers.errors import InvalidLayer

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_TYPES = {t.value.encode(): t for t in EntryType}
_TYPES[b"\0"] = EntryType.REGULAR
_TYPES[b"7"] = EntryType.REGULAR  # contiguous file: a regular file on every system that matters
_MAX_META = 1 << 20  # PAX and GNU long-name bodies larger than this are refused, not buffered


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str, offset: int) -> int:
    """A numeric header field: octal text, or GNU base-256 when the high bit of byte 0 is set."""
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            raise InvalidLayer(f"tar header at offset {offset}: negative {what}")
        return int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
    text = _cstr(field).strip(b" ")
    if not text:
        return 0
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if value < 0:  # int() would take a sign; tar numbers have none
        raise InvalidLayer(f"tar header at offset {offset}: bad {what} field {field!r}")
    return value


def _time_ns(text: str, what: str) -> int:
    """A PAX time value (decimal seconds with an optional fraction) in nanoseconds."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise InvalidLayer(f"bad PAX {what} {text!r}")
    return sign * (int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


def _pax_records(body: bytes, offset: int) -> dict[str, bytes]:
    """Parse PAX extended header records: ``"%d %s=%s\\n" % (length, keyword, value)``."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(body):
        if body[pos] == 0:  # NUL padding after the last record
            break
        space = body.find(b" ", pos)
        try:
            length = int(body[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(body) or body[end - 1] != 0x0A:
            raise InvalidLayer(f"PAX header at offset {offset}: malformed record")
        key, eq, value = body[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise InvalidLayer(f"PAX header at offset {offset}: record without '='")
        records[_decode(key)] = value
        pos = end
    return records


class TarReader:
    """Iterate over the entries of a tar stream given as chunks of bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")
        self._pos = 0
        self.offset = 0  # stream offset of the next unread byte
        self._remaining = 0  # data bytes of the current entry not yet consumed
        self._padding = 0
        self._global: dict[str, bytes] = {}
        self._sparse: list[tuple[int, int]] | None = None  # the current entry's data regions
        self._sparse_size = 0

    # -- byte-level access ------------------------------------------------------------------

    def _next_chunk(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf = memoryview(chunk)
                self._pos = 0
                return True
        return False

    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes (fewer only at the very end of the stream)."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            out = self._buf[self._pos : self._pos + n].tobytes()
            self._pos += n
            self.offset += n
            return out
        parts = [self._buf[self._pos :].tobytes()]
        got = avail
        self._pos = len(self._buf)
        while got < n and self._next_chunk():
            piece = self._buf[: n - got]
            parts.append(piece.tobytes())
            self._pos = len(piece)
            got += len(piece)
        self.offset += got
        return b"".join(parts)

    def _pieces(self, n: int) -> Iterator[memoryview]:
        """Yield views of the next ``n`` bytes as they sit in the chunks."""
        while n:
            if self._pos >= len(self._buf) and not self._next_chunk():
                raise InvalidLayer(f"tar stream is truncated at offset {self.offset}")
            piece = self._buf[self._pos : self._pos + n]
            self._pos += len(piece)
            self.offset += len(piece)
            n -= len(piece)
            yield piece

    def _skip(self, n: int) -> None:
        for _ in self._pieces(n):
            pass

    def _finish_entry(self) -> None:
        self._sparse = None
        if self._remaining or self._padding:
            self._skip(self._remaining + self._padding)
            self._remaining = self._padding = 0

    # -- the current entry's data -----------------------------------------------------------

    def data_pieces(self) -> Iterator[memoryview]:
        """Yield the current entry's data as views into the stream's chunks (valid until the next
        piece is taken)."""
        n, self._remaining = self._remaining, 0
        yield from self._pieces(n)

    def write_data(self, fd: int) -> None:
        """Write the current entry's data to ``fd`` (unbuffered ``os.write``); a sparse file's
        regions go to their offsets and the holes stay holes."""
        write = os.write
        if self._sparse is None:
            for piece in self.data_pieces():
                while piece:
                    piece = piece[write(fd, piece) :]
            return
        for region_offset, length in self._sparse:
            os.lseek(fd, region_offset, os.SEEK_SET)
            self._remaining -= length
            for piece in self._pieces(length):
                while piece:
                    piece = piece[write(fd, piece) :]
        os.ftruncate(fd, self._sparse_size)

    def read_data(self) -> bytes:
        """The current entry's data as bytes (for small entries; a sparse file with its holes)."""
        if self._sparse is None:
            return b"".join(p.tobytes() for p in self.data_pieces())
        out = bytearray(self._sparse_size)
        for region_offset, length in self._sparse:
            self._remaining -= length
            out[region_offset : region_offset + length] = b"".join(p.tobytes() for p in self._pieces(length))
        return bytes(out)

    def drain(self) -> None:
        """Consume everything after the end-of-archive marker (so digests cover the whole blob)."""
        self._pos = len(self._buf)
        while self._next_chunk():
            pass

    # -- headers ----------------------------------------------------------------------------

    def _meta_body(self, size: int, offset: int) -> bytes:
        if size > _MAX_META:
            raise InvalidLayer(f"tar header at offset {offset}: extended header of {size} bytes")
        self._remaining, self._padding = size, -size % BLOCK
        body = self.read_data()
        if len(body) != size:
            raise InvalidLayer(f"tar stream is truncated at offset {self.offset}")
        return body

    def __iter__(self) -> Iterator[TarEntry]:
        pax: dict[str, bytes] = {}
        longname: bytes | None = None
        longlink: bytes | None = None
        while True:
            self._finish_entry()
            offset = self.offset
            block = self._take(BLOCK)
            if not block:
                return  # end of stream without end-of-archive blocks: accepted, as GNU tar does
            if len(block) < BLOCK:
                raise InvalidLayer(f"tar stream is truncated at offset {offset}")
            if block == _ZERO_BLOCK:
                self.drain()
                return
            checksum = _number(block[148:156], "checksum", offset)
            unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
            if checksum != unsigned and checksum != _signed_sum(block):
                raise InvalidLayer(f"tar header at offset {offset}: checksum mismatch (not a tar?)")
            flag = block[156:157]
            size = _number(block[124:136], "size", offset)
            if flag in (b"x", b"g"):
                records = _pax_records(self._meta_body(size, offset), offset)
                (pax if flag == b"x" else self._global).update(records)
                continue
            if flag == b"L":
                longname = _cstr(self._meta_body(size, offset))
                continue
            if flag == b"K":
                longlink = _cstr(self._meta_body(size, offset))
                continue
            records = {**self._global, **pax}
            entry = self._entry(block, flag, size, offset, records, longname, longlink)
            pax, longname, longlink = {}, None, None
            if entry.type is EntryType.REGULAR:
                self._remaining, self._padding = entry.size, -entry.size % BLOCK
                if flag == b"S" or "GNU.sparse.major" in records or "GNU.sparse.map" in records:
                    self._read_sparse_map(entry, block, flag, records, offset)
            else:
                entry.size = 0  # only regular files carry data (as tarfile and GNU tar read it)
            yield entry

    def _entry(
        self,
        block: bytes,
        flag: bytes,
        size: int,
        offset: int,
        pax: dict[str, bytes],
        longname: bytes | None,
        longlink: bytes | None,
    ) -> TarEntry:
        etype = EntryType.REGULAR if flag == b"S" else _TYPES.get(flag)
        if etype is None:
            raise InvalidLayer(f"tar entry at offset {offset}: unsupported type flag {flag!r}")
        if "GNU.sparse.offset" in pax:
            raise Unsupported(f"tar entry at offset {offset}: GNU sparse format 0.0 is not supported")
        name = _cstr(block[0:100])
        magic = block[257:263]
        if magic == b"ustar\0" and block[345] != 0:  # POSIX ustar: prefix + "/" + name
            name = _cstr(block[345:500]) + b"/" + name
        if longname is not None:
            name = longname
        linkname = longlink if longlink is not None else _cstr(block[157:257])
        entry = TarEntry(
            name=_decode(name),
            type=etype,
            mode=_number(block[100:108], "mode", offset) & 0o7777,
            uid=_number(block[108:116], "uid", offset),
            gid=_number(block[116:124], "gid", offset),
            size=size,
            mtime_ns=_number(block[136:148], "mtime", offset) * 1_000_000_000,
            linkname=_decode(linkname),
            uname=_decode(_cstr(block[265:297])),
            gname=_decode(_cstr(block[297:329])),
        )
        if etype in (EntryType.CHAR, EntryType.BLOCK):
            entry.devmajor = _number(block[329:337], "devmajor", offset)
            entry.devminor = _number(block[337:345], "devminor", offset)
        if pax:
            _apply_pax(entry, pax, offset)
        if etype is EntryType.REGULAR and entry.name.endswith("/"):
            entry.type = EntryType.DIR  # pre-POSIX archives mark directories by a trailing slash
        return entry

    # -- sparse files (GNU tar's old format and its PAX formats 0.1 and 1.0) --------------------

    def _read_sparse_map(
        self, entry: TarEntry, block: bytes, flag: bytes, pax: dict[str, bytes], offset: int
    ) -> None:
        """Set the current entry's data regions and its full size from the sparse map."""
        if flag == b"S":
            regions = _gnu_regions(block[386:482], 4, offset)
            extended = block[482]
            while extended:
                ext = self._take(BLOCK)
                if len(ext) < BLOCK:
                    raise InvalidLayer(f"tar stream is truncated at offset {self.offset}")
                regions += _gnu_regions(ext[:504], 21, offset)
                extended = ext[504]
            real_size = _number(block[483:495], "realsize", offset)
        elif "GNU.sparse.map" in pax:  # format 0.1: "offset,length,offset,length..."
            numbers = _decimals(pax["GNU.sparse.map"].split(b","), offset)
            regions = list(zip(numbers[::2], numbers[1::2], strict=True))
            real_size = _decimals([pax.get("GNU.sparse.size", b"")], offset)[0]
        else:  # format 1.0: the map is at the start of the data, whole blocks of decimal lines
            regions = self._sparse_map_in_data(offset)
            real_size = _decimals([pax.get("GNU.sparse.realsize", b"")], offset)[0]
        end = 0
        for start, length in regions:
            if start < end or start + length > real_size:
                raise InvalidLayer(f"tar entry {entry.name!r}: bad sparse map")
            end = start + length
        if sum(length for _, length in regions) != self._remaining:
            raise InvalidLayer(f"tar entry {entry.name!r}: sparse map does not match the data size")
        self._sparse, self._sparse_size = regions, real_size
        entry.sparse, entry.size = regions, real_size

    def _sparse_map_in_data(self, offset: int) -> list[tuple[int, int]]:
        text = b""
        while True:
            if self._remaining < BLOCK or len(text) >= _MAX_META:
                raise InvalidLayer(f"tar entry at offset {offset}: bad sparse map")
            self._remaining -= BLOCK
            text += b"".join(p.tobytes() for p in self._pieces(BLOCK))
            lines = text.split(b"\n")[:-1]  # complete lines only
            if lines:
                count = _decimals(lines[:1], offset)[0]
                if len(lines) >= 1 + 2 * count:
                    numbers = _decimals(lines[1 : 1 + 2 * count], offset)
                    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _decimals(fields: list[bytes], offset: int) -> list[int]:
    try:
        values = [int(f) for f in fields]
    except ValueError:
        values = [-1]
    if not values or min(values) < 0:
        raise InvalidLayer(f"tar entry at offset {offset}: bad sparse map")
    return values


def _gnu_regions(area: bytes, count: int, offset: int) -> list[tuple[int, int]]:
    """The (offset, length) pairs of an old-GNU sparse area; an empty slot ends the list."""
    regions = []
    for i in range(count):
        slot = area[i * 24 : i * 24 + 24]
        if not slot[0]:
            break
        regions.append(
            (_number(slot[:12], "sparse offset", offset), _number(slot[12:], "sparse length", offset))
        )
    return regions


def _signed_sum(block: bytes) -> int:
    # Some old tar writers summed the header as signed chars.
    return sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])


def _apply_pax(entry: TarEntry, pax: dict[str, bytes], offset: int) -> None:
    """Let PAX records override the ustar fields (POSIX pax "Extended header keywords")."""
    for key, value in pax.items():
        if key == "path":
            entry.name = _decode(value)
        elif key == "linkpath":
            entry.linkname = _decode(value)
        elif key in ("size", "uid", "gid"):
            if not value.isdigit():  # also refuses signs, which int() would take
                raise InvalidLayer(f"PAX header at offset {offset}: bad {key} {value!r}")
            setattr(entry, key, int(value))
        elif key == "mtime":
            entry.mtime_ns = _time_ns(_decode(value), key)
        elif key == "atime":
            entry.atime_ns = _time_ns(_decode(value), key)
        elif key == "uname":
            entry.uname = _decode(value)
        elif key == "gname":
            entry.gname = _decode(value)
        elif key.startswith("SCHILY.xattr."):
            entry.xattrs[key[len("SCHILY.xattr.") :]] = value
        elif key.startswith("LIBARCHIVE.xattr."):
            name = _decode(unquote_to_bytes(key[len("LIBARCHIVE.xattr.") :]))
            try:
                entry.xattrs.setdefault(name, base64.b64decode(value + b"=" * (-len(value) % 4)))
            except ValueError:
                raise InvalidLayer(f"PAX header at offset {offset}: bad xattr {name!r}") from None
    if "GNU.sparse.name" in pax:  # a sparse file's real name (formats 0.1, 1.0) beats "path"
        entry.name = _decode(pax["GNU.sparse.name"])
