"""Unsigned variable-length integers: seven bits a byte, least significant first, the high bit set
on every byte but the last (protobuf's varints, encoding.md#varints; Go's ``encoding/binary``
Uvarint, in its build information)."""

from __future__ import annotations


def read_uvarint(data: bytes, offset: int) -> tuple[int, int]:
    """The varint at ``offset`` in ``data`` and the offset after it; ValueError if ``data`` ends
    first or it runs past 64 bits."""
    value = shift = 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
    raise ValueError("a varint that does not end")
