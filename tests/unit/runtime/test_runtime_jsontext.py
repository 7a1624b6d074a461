"""``berth.runtime.jsontext`` against ``json`` itself: the same text out, the same values in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.runtime import jsontext

#: JSON values with string keys (``json.dumps`` turns other keys into strings; the runtime has none).
values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(values)
def test_dumps_is_json_dumps(value: Any) -> None:
    assert jsontext.dumps(value) == json.dumps(value)


@given(values)
def test_dumps_indented_is_json_dumps_indented(value: Any) -> None:
    assert jsontext.dumps_indented(value) == json.dumps(value, indent=2)


@given(values)
def test_loads_reads_what_json_writes(value: Any) -> None:
    text = json.dumps(value, indent=2)
    assert jsontext.loads(text) == json.loads(text)
    assert jsontext.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["", "  ", "{} {}", "[1,", '{"a": }'])
def test_loads_refuses_what_is_not_one_value(text: str) -> None:
    with pytest.raises(ValueError):
        jsontext.loads(text)


def test_dumps_indented_refuses_keys_that_are_not_strings() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        jsontext.dumps_indented({1: "one"})
