"""Compression detection, streaming decompression with digests, and the layer writer."""

from __future__ import annotations

import gzip
import hashlib
import io
import os

import pytest
import zstandard

from berth.image.layers import Compression, InvalidLayer, LayerReader, LayerWriter
from berth.spec import mediatypes

PAYLOAD = os.urandom(3 << 20) + b"text " * 200_000


def _read_all(blob: bytes) -> tuple[bytes, LayerReader]:
    reader = LayerReader(io.BytesIO(blob))
    return b"".join(reader.chunks()), reader


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mediatypes.OCI_LAYER_TAR, Compression.NONE),
        (mediatypes.OCI_LAYER_GZIP, Compression.GZIP),
        (mediatypes.OCI_LAYER_ZSTD, Compression.ZSTD),
        (mediatypes.OCI_LAYER_NONDIST_GZIP, Compression.GZIP),
        (mediatypes.DOCKER_LAYER_GZIP, Compression.GZIP),
    ],
)
def test_compression_from_media_type(media_type: str, compression: Compression) -> None:
    assert Compression.from_media_type(media_type) is compression


def test_compression_refuses_non_layer_media_type() -> None:
    with pytest.raises(InvalidLayer, match="not a layer media type"):
        Compression.from_media_type(mediatypes.OCI_MANIFEST)


def test_compression_sniffs_magic_bytes() -> None:
    assert Compression.sniff(gzip.compress(b"x")) is Compression.GZIP
    assert Compression.sniff(zstandard.ZstdCompressor().compress(b"x")) is Compression.ZSTD
    assert Compression.sniff(b"\x5a\x2a\x4d\x18" + bytes(8)) is Compression.ZSTD  # skippable frame
    assert Compression.sniff(b"etc/passwd\0") is Compression.NONE


@pytest.mark.parametrize("compression", list(Compression))
def test_layer_reader_digests_both_sides(compression: Compression) -> None:
    out = io.BytesIO()
    writer = LayerWriter(out, compression)
    writer.write(PAYLOAD)
    writer.close()
    blob = out.getvalue()
    data, reader = _read_all(blob)
    assert data == PAYLOAD
    assert reader.compression is compression
    assert reader.diff_id.encoded == hashlib.sha256(PAYLOAD).hexdigest() == writer.diff_id.encoded
    assert reader.digest.encoded == hashlib.sha256(blob).hexdigest() == writer.digest.encoded
    assert (reader.size, reader.uncompressed_size) == (len(blob), len(PAYLOAD))


def test_layer_reader_multi_member_gzip() -> None:
    blob = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:])
    assert _read_all(blob)[0] == PAYLOAD


def test_layer_reader_multi_frame_zstd() -> None:
    z = zstandard.ZstdCompressor()
    assert _read_all(z.compress(b"a" * 5000) + z.compress(b"b" * 5000))[0] == b"a" * 5000 + b"b" * 5000


def test_layer_reader_truncated_gzip() -> None:
    blob = gzip.compress(PAYLOAD)
    with pytest.raises(InvalidLayer, match="truncated"):
        _read_all(blob[: len(blob) // 2])


def test_layer_reader_corrupt_gzip() -> None:
    blob = bytearray(gzip.compress(b"hello world" * 1000))
    blob[20:40] = bytes(20)
    with pytest.raises(InvalidLayer, match="gzip"):
        _read_all(bytes(blob))


def test_layer_reader_gzip_trailing_garbage() -> None:
    with pytest.raises(InvalidLayer, match="trailing garbage"):
        _read_all(gzip.compress(b"hello") + b"garbage")


def test_layer_reader_corrupt_zstd() -> None:
    blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(PAYLOAD))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)
    with pytest.raises(InvalidLayer, match="zstd"):
        _read_all(bytes(blob))


def test_layer_reader_digests_unavailable_before_the_end() -> None:
    reader = LayerReader(io.BytesIO(b"x" * 10))
    with pytest.raises(RuntimeError):
        _ = reader.diff_id


def test_layer_reader_bounds_inflate_output() -> None:
    # 1 GiB of zeros compresses to ~1 MiB; chunks must stay bounded (no inflate bomb in memory).
    out = io.BytesIO()
    writer = LayerWriter(out, Compression.GZIP)
    for _ in range(64):
        writer.write(bytes(16 << 20))
    writer.close()
    reader = LayerReader(io.BytesIO(out.getvalue()))
    assert max(len(c) for c in reader.chunks()) <= 1 << 20
    assert reader.uncompressed_size == 1 << 30


def test_layer_writer_reports_a_failing_output() -> None:
    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    writer = LayerWriter(Full(), Compression.NONE)
    with pytest.raises(OSError, match="No space"):
        for _ in range(64):
            writer.write(bytes(1 << 20))
        writer.close()
    writer.abort()  # returns: the helper thread has ended


def test_layer_writer_abort_stops_the_helper() -> None:
    writer = LayerWriter(io.BytesIO(), Compression.GZIP)
    writer.write(b"partial")
    writer.abort()
    assert not writer._worker.is_alive()
    with pytest.raises(RuntimeError):
        writer.close()


def test_layer_writer_dropped_unclosed_stops_its_helper() -> None:
    import gc

    writer = LayerWriter(io.BytesIO(), Compression.GZIP)
    worker = writer._worker
    del writer
    gc.collect()
    worker.join(timeout=10)
    assert not worker.is_alive()
