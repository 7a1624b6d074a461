"""ARG/ENV substitution into Containerfile words (Dockerfile reference, "Environment replacement")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.build.expand import Expander, ExpansionError, raw_words

VARS = {"A": "1", "EMPTY": "", "SPACED": " x  y "}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$A", "1"),
        ("${A}b", "1b"),
        ("$Ab", ""),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:-${A}x}", "1x"),
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ('"$A \\" \\x"', '1 " \\x'),
        ("a b", "a b"),
        ("$", "$"),
        ("$1", "$1"[:0]),
        ("cost: $ 5", "cost: $ 5"),
    ],
)
def test_word(text: str, want: str) -> None:
    assert Expander(VARS).word(text) == want


def test_words_split_unquoted_substitutions_only() -> None:
    ex = Expander(VARS)
    assert ex.words('a$SPACED"b" "$SPACED" "" $UNSET c') == ["a", "x", "y", "b", " x  y ", "", "c"]


def test_used_names_are_recorded() -> None:
    ex = Expander(VARS)
    ex.word("$A ${UNSET:-x} '$NOT'")
    assert ex.used == {"A", "UNSET"}


def test_backtick_escape() -> None:
    assert Expander(VARS, escape="`").word("`$A\\b") == "$A\\b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'open", "unexpected end of text looking for the matching '"),
        ('"open', 'unexpected end of text looking for the matching "'),
        ("${A", "missing } in ${A..."),
        ("${A:-x", "missing } in ${A..."),
        ("${}", "bad substitution: want a variable name after ${ in '${}'"),
        ("${A/x}", "unsupported modifier '/' in ${A...}"),
        ("${UNSET:?must be set}", "UNSET: must be set"),
        ("${EMPTY:?}", "EMPTY: is not set"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ExpansionError) as info:
        Expander(VARS).word(text)
    assert str(info.value) == message


def test_raw_words_keep_quotes() -> None:
    assert raw_words("a \"b c\" 'd e'  f\\ g") == ["a", '"b c"', "'d e'", "f\\ g"]


@given(st.text(alphabet="ab $:{}-+?'\"\\ \t", max_size=30))
def test_random_words_raise_only_expansion_errors(text: str) -> None:
    try:
        Expander(VARS).words(text)
        Expander(VARS).word(text)
    except ExpansionError:
        pass
