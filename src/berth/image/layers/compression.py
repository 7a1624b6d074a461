"""Layer compression (image-spec layer.md#distributable-format): detection, streaming decompression
with both digests computed in the same pass, and compression for packing.

A layer is read in bounded chunks and never held in memory whole. Gzip uses ISA-L's inflater
(``isal_zlib``, several times faster than zlib) and accepts multi-member streams, as gzip(1) does;
zstd uses the ``zstandard`` binding and reads across frames.
"""

from __future__ import annotations

import enum
import hashlib
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Iterator
from typing import Protocol, cast

from berth.image.layers.errors import InvalidLayer
from berth.spec import mediatypes
from berth.spec.digest import Digest

#: Size of the reads from the blob and of the uncompressed chunks handed to the tar reader.
CHUNK = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# zstd skippable frames: little-endian magic 0x184D2A50..0x184D2A5F.
_ZSTD_SKIPPABLE_LOW = 0x184D2A50


class Compression(enum.Enum):
    """How a layer's tar stream is compressed."""

    NONE = "tar"
    GZIP = "gzip"
    ZSTD = "zstd"

    @classmethod
    def from_media_type(cls, media_type: str) -> Compression:
        """The compression a layer media type declares (OCI layer types and Docker's).

        Raises ``InvalidLayer`` for a media type that is not a layer type.
        """
        # media-types.md: the "+gzip" / "+zstd" suffixes; Docker's ".tar.gzip" (schema 2).
        if media_type.endswith(("+gzip", ".tar.gzip")):
            return cls.GZIP
        if media_type.endswith(("+zstd", ".tar.zstd")):
            return cls.ZSTD
        if media_type.endswith((".tar", "v1.tar")):
            return cls.NONE
        raise InvalidLayer(f"{media_type!r} is not a layer media type")

    @classmethod
    def sniff(cls, head: bytes) -> Compression:
        """The compression the first bytes of a blob show (gzip and zstd magic; else plain tar)."""
        if head.startswith(_GZIP_MAGIC):
            return cls.GZIP
        if head.startswith(_ZSTD_MAGIC):
            return cls.ZSTD
        if len(head) >= 4 and int.from_bytes(head[:4], "little") & ~0xF == _ZSTD_SKIPPABLE_LOW:
            return cls.ZSTD
        return cls.NONE

    @property
    def media_type(self) -> str:
        """The OCI layer media type for a tar stream with this compression."""
        return {
            Compression.NONE: mediatypes.OCI_LAYER_TAR,
            Compression.GZIP: mediatypes.OCI_LAYER_GZIP,
            Compression.ZSTD: mediatypes.OCI_LAYER_ZSTD,
        }[self]


class _Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


class _HashingSource:
    """Reads the blob in big chunks, hashing and counting what it hands on."""

    def __init__(self, blob: _Readable, head: bytes) -> None:
        self._blob = blob
        self._head = head
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, n: int = CHUNK) -> bytes:
        if self._head:
            data, self._head = self._head, b""
        else:
            data = self._blob.read(n)
        self.hasher.update(data)
        self.size += len(data)
        return data


def _gunzip(src: _HashingSource) -> Iterator[bytes]:
    from isal import igzip_lib, isal_zlib

    isal_error = cast(type[Exception], igzip_lib.IsalError)  # the stubs declare an instance

    d = isal_zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
    fed = False  # whether the current member has started
    try:
        while data := src.read():
            while True:
                fed = True
                out = d.decompress(data, CHUNK)  # bounded output: no inflate bombs
                if out:
                    yield out
                if d.eof:
                    # A member ended; gzip(1) accepts several concatenated (RFC 1952 section 2.2).
                    data = d.unused_data
                    d, fed = isal_zlib.decompressobj(wbits=31), False
                    if data and not data.startswith(_GZIP_MAGIC[: len(data)]):
                        raise InvalidLayer("gzip stream has trailing garbage after a member")
                    if not data:
                        break
                    continue
                data = d.unconsumed_tail
                if not data and len(out) < CHUNK:
                    break  # needs more input
    except isal_error as err:
        raise InvalidLayer(f"corrupt gzip stream: {err}") from None
    if fed:
        raise InvalidLayer("gzip stream is truncated")


def _unzstd(src: _HashingSource) -> Iterator[bytes]:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(
        src,  # type: ignore[arg-type]  # any object with read() will do
        read_size=CHUNK,
        read_across_frames=True,
    )
    try:
        while out := reader.read(CHUNK):
            yield out
    except zstandard.ZstdError as err:
        raise InvalidLayer(f"corrupt zstd stream: {err}") from None


def _plain(src: _HashingSource) -> Iterator[bytes]:
    while data := src.read():
        yield data


class LayerReader:
    """The uncompressed tar stream of a layer blob, as chunks, with its digests.

    ``digest`` (of the blob as stored) and ``diff_id`` (of the uncompressed tar, image-spec
    config.md#layer-diffid) are known once ``chunks()`` is exhausted. Decompression and hashing
    run in a helper thread so they overlap with the consumer's writes.

    Usage::

        reader = LayerReader(open(path, "rb"))
        for chunk in reader.chunks():
            ...
        reader.diff_id, reader.digest
    """

    def __init__(self, blob: _Readable, compression: Compression | None = None) -> None:
        head = blob.read(CHUNK)
        self.compression = compression if compression is not None else Compression.sniff(head)
        self._src = _HashingSource(blob, head)
        self._diff_hasher = hashlib.sha256()
        self.uncompressed_size = 0
        self._done = False

    @property
    def digest(self) -> Digest:
        """sha256 of the blob as read (compressed)."""
        self._check_done()
        return Digest("sha256", self._src.hasher.hexdigest())

    @property
    def size(self) -> int:
        """Size in bytes of the blob as read."""
        self._check_done()
        return self._src.size

    @property
    def diff_id(self) -> Digest:
        """sha256 of the uncompressed tar stream."""
        self._check_done()
        return Digest("sha256", self._diff_hasher.hexdigest())

    def _check_done(self) -> None:
        if not self._done:
            raise RuntimeError("LayerReader digests are known only after reading to the end")

    def _produce(self) -> Iterator[bytes]:
        decode: Callable[[_HashingSource], Iterator[bytes]] = {
            Compression.NONE: _plain,
            Compression.GZIP: _gunzip,
            Compression.ZSTD: _unzstd,
        }[self.compression]
        for out in decode(self._src):
            self._diff_hasher.update(out)
            self.uncompressed_size += len(out)
            yield out

    def chunks(self) -> Generator[bytes, None, None]:
        """Yield the uncompressed stream in chunks of at most about ``CHUNK`` bytes."""
        q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        stop = threading.Event()

        def put(item: bytes | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for out in self._produce():
                    if not put(out):
                        return
            except BaseException as err:  # handed to the consumer, raised there
                put(err)
                return
            put(None)

        worker = threading.Thread(target=work, name="berth-layer-inflate", daemon=True)
        worker.start()
        try:
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
            self._done = True
        finally:
            stop.set()
            worker.join()


class Writable(Protocol):
    """Where a layer blob is written (a binary file, a socket writer, a content-store ingest)."""

    def write(self, data: bytes, /) -> object: ...


#: Default levels: ISA-L's gzip level 3 (its best, of 0-3) deflates about 5x faster than zlib -6
#: for output about 5% larger, and any gzip inflates it; zstd level 3 is zstd's own default.
DEFAULT_LEVEL = {Compression.GZIP: 3, Compression.ZSTD: 3, Compression.NONE: 0}


class _Deflater:
    """What the helper thread of a ``LayerWriter`` owns: compressor, hashers, output, counts."""

    def __init__(self, out: Writable, compression: Compression, level: int) -> None:
        self.compress: Callable[[bytes], bytes]
        self.flush: Callable[[], bytes]
        if compression is Compression.GZIP:
            from isal import isal_zlib

            gz = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)  # 31: gzip wrapper, mtime 0
            self.compress, self.flush = gz.compress, gz.flush
        elif compression is Compression.ZSTD:
            import zstandard

            zs = zstandard.ZstdCompressor(level=level).compressobj()
            self.compress, self.flush = zs.compress, zs.flush
        else:
            self.compress, self.flush = bytes, bytes
        self.out = out
        self.diff_hasher = hashlib.sha256()
        self.hasher = hashlib.sha256()
        self.uncompressed_size = 0
        self.size = 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.abandoned = threading.Event()  # set when the LayerWriter is collected unclosed
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                try:
                    data = self.queue.get(timeout=0.5)
                except queue.Empty:
                    if self.abandoned.is_set():
                        return
                    continue
                if data is None:
                    break
                self.diff_hasher.update(data)
                self.uncompressed_size += len(data)
                self.emit(self.compress(data))
            self.emit(self.flush())
        except BaseException as err:  # handed to the writing thread, raised there
            self.error = err

    def emit(self, out: bytes) -> None:
        if out:
            self.hasher.update(out)
            self.size += len(out)
            self.out.write(out)


class LayerWriter:
    """Compress a tar stream into ``out`` while hashing both sides.

    Hashing, compression and the writes to ``out`` run in a helper thread (ISA-L, zstd and
    hashlib release the GIL), so they overlap with the caller reading files. Call ``close()`` to
    finish; after a failure call ``abort()`` (or drop the writer: the thread then ends by itself).

    Usage::

        with open(path, "wb") as out:
            writer = LayerWriter(out, Compression.GZIP)
            writer.write(tar_bytes)
            writer.close()
        writer.diff_id, writer.digest, writer.size
    """

    def __init__(
        self, out: Writable, compression: Compression = Compression.GZIP, level: int | None = None
    ) -> None:
        self.compression = compression
        self._pending = bytearray()
        self._state = _Deflater(out, compression, DEFAULT_LEVEL[compression] if level is None else level)
        self._worker = threading.Thread(target=self._state.run, name="berth-layer-deflate", daemon=True)
        self._worker.start()
        weakref.finalize(self, self._state.abandoned.set)

    @property
    def uncompressed_size(self) -> int:
        """Bytes of tar handed to the compressor so far."""
        return self._state.uncompressed_size

    @property
    def size(self) -> int:
        """Bytes written to ``out`` so far."""
        return self._state.size

    def write(self, data: bytes) -> None:
        """Add uncompressed tar bytes."""
        self._pending += data
        if len(self._pending) >= CHUNK:
            self._send(bytes(self._pending))
            self._pending.clear()

    def _send(self, item: bytes | None) -> None:
        while True:
            if self._state.error is not None:
                raise self._state.error
            if not self._worker.is_alive():
                raise RuntimeError("LayerWriter used after close() or abort()")
            try:
                self._state.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Flush the compressor; the digests are final afterwards."""
        if self._pending:
            self._send(bytes(self._pending))
            self._pending.clear()
        self._send(None)
        self._worker.join()
        if self._state.error is not None:
            raise self._state.error

    def abort(self) -> None:
        """Stop the helper thread after a failure (the output is incomplete)."""
        self._state.abandoned.set()
        self._worker.join()

    @property
    def diff_id(self) -> Digest:
        """sha256 of the uncompressed tar written."""
        return Digest("sha256", self._state.diff_hasher.hexdigest())

    @property
    def digest(self) -> Digest:
        """sha256 of the compressed bytes written to ``out``."""
        return Digest("sha256", self._state.hasher.hexdigest())
