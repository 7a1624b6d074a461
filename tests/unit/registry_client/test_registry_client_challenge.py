"""WWW-Authenticate parsing (RFC 7235) as registries send it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from berth.distribution.client.challenge import parse_challenges


def test_docker_hub_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    [ch] = parse_challenges(header)
    assert ch.scheme == "bearer"
    assert ch.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }


def test_basic_and_bearer_in_one_header_with_odd_spacing() -> None:
    chs = parse_challenges(
        'Basic realm="Registry Realm" ,  BEARER realm=https://q/t, service = "q", error=insufficient_scope'
    )
    assert [c.scheme for c in chs] == ["basic", "bearer"]
    assert chs[0].params == {"realm": "Registry Realm"}
    assert chs[1].params == {"realm": "https://q/t", "service": "q", "error": "insufficient_scope"}


def test_quoted_pair_and_comma_inside_quotes() -> None:
    [ch] = parse_challenges(r'Bearer realm="a\"b,c",scope="repository:x:pull,push"')
    assert ch.params["realm"] == 'a"b,c'
    assert ch.params["scope"] == "repository:x:pull,push"


def test_token68_and_bare_scheme() -> None:
    chs = parse_challenges("Negotiate abc+/=, Basic")
    assert chs[0].scheme == "negotiate" and chs[0].token68 == "abc+/="
    assert chs[1].scheme == "basic" and chs[1].params == {}


def test_garbage_yields_nothing_or_skips() -> None:
    assert parse_challenges("") == []
    assert parse_challenges(" , ,") == []
    assert [c.scheme for c in parse_challenges('=== Basic realm="x"')] == ["basic"]


_tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@given(st.lists(st.tuples(_tokens, st.dictionaries(_tokens, _values, max_size=4)), min_size=1, max_size=3))
def test_round_trip_of_generated_challenges(challenges: list[tuple[str, dict[str, str]]]) -> None:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(
        scheme + (" " + ", ".join(f"{k}={quote(v)}" for k, v in params.items()) if params else "")
        for scheme, params in challenges
    )
    parsed = parse_challenges(header)
    assert [(c.scheme, c.params) for c in parsed] == [
        (s.lower(), {k.lower(): v for k, v in p.items()}) for s, p in challenges
    ]


@given(st.text(max_size=200))
def test_never_raises(text: str) -> None:
    for ch in parse_challenges(text):
        assert ch.scheme == ch.scheme.lower()
