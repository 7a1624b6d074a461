"""The Stream* RPCs: a list RPC's answer sent as a stream of messages of whole items.

cri-api's CRIListStreaming (KEP-5825) gives each list RPC a server-streaming twin, so that a node
with many pods is not bound by gRPC's message size: every item in exactly one message, at least
one item per message, and the stream closed once all are sent. Each twin's request holds the same
filter as its list RPC's, and each list response, like each stream response, is one repeated field
numbered 1 of the same item type. So a list answer's encoding is its items' encodings one after
another, each a field-1 record (protobuf encoding.md, "Length-delimited records": the tag
``1 << 3 | 2``, a varint length, the item), and any run of whole records is a valid stream
message: the answers are cut into runs of about ``CHUNK`` bytes, never decoded again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from berth.cri.service import Services
from berth.varint import read_uvarint

#: The most bytes of items in one stream message (unless one item is larger): far below gRPC's
#: default 4 MiB receive limit.
CHUNK = 1 << 20
_RECORD_TAG = 1 << 3 | 2  # field 1, wire type LEN


def streamed(
    list_rpc: Callable[[Services, Any], Any], list_request: Callable[..., Any], filtered: bool = True
) -> Callable[[Services, Any], Iterator[bytes]]:
    """The Stream* handler answering what ``list_rpc`` answers for a ``list_request`` with the
    stream request's filter (``filtered``; StreamPodSandboxMetrics has none)."""

    def handler(services: Services, request: Any) -> Iterator[bytes]:
        asked = list_request(filter=request.filter) if filtered else list_request()
        answer = list_rpc(services, asked)
        yield from chunks(answer if isinstance(answer, bytes) else answer.SerializeToString())

    return handler


def chunks(encoded: bytes, limit: int = CHUNK) -> Iterator[bytes]:
    """``encoded`` (field-1 records only) in runs of whole records of at most ``limit`` bytes, or
    one record where that alone is larger; nothing for no records."""
    start = end = 0
    while end < len(encoded):
        record_end = _record_end(encoded, end)
        if record_end - start > limit and end > start:
            yield encoded[start:end]
            start = end
        end = record_end
    if end > start:
        yield encoded[start:end]


def _record_end(encoded: bytes, at: int) -> int:
    """Where the field-1 record starting at ``at`` ends."""
    if encoded[at] != _RECORD_TAG:
        raise ValueError(f"a list answer holds tag {encoded[at]:#x} at byte {at}, not field 1's")
    try:
        length, at = read_uvarint(encoded, at + 1)
    except ValueError:
        raise ValueError("a list answer ends inside a record's length") from None
    if at + length > len(encoded):
        raise ValueError("a list answer ends inside a record")
    return at + length
