"""``berth.cri.streamed.chunks``: a list answer cut into stream messages holds every item once, in
order, whole, at least one per message, each message within the limit unless one item alone is
larger; and what is not a list answer is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cri.proto import api_pb2 as pb
from berth.cri.streamed import chunks


def _answer(names: list[str]) -> bytes:
    containers = [pb.Container(id=name, metadata=pb.ContainerMetadata(name=name)) for name in names]
    return pb.ListContainersResponse(containers=containers).SerializeToString()


@given(st.lists(st.text(max_size=300), max_size=40), st.integers(min_value=1, max_value=2000))
def test_every_item_once_whole_and_in_order(names: list[str], limit: int) -> None:
    encoded = _answer(names)
    messages = list(chunks(encoded, limit))
    assert b"".join(messages) == encoded
    seen = []
    for message in messages:
        items = pb.StreamContainersResponse.FromString(message).containers
        assert items, "a message without items"
        assert len(message) <= limit or len(items) == 1
        seen += [c.id for c in items]
    assert seen == names


def test_nothing_for_no_items() -> None:
    assert list(chunks(b"")) == []


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (b"\x12\x00", "tag 0x12 at byte 0"),  # field 2
        (b"\x0a\x05abc", "ends inside a record"),
        (b"\x0a\x80", "ends inside a record's length"),
    ],
)
def test_what_is_not_a_list_answer_is_refused(encoded: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(chunks(encoded))
