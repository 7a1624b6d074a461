"""Token parsing and caching rules of the Bearer flow (no network)."""

from __future__ import annotations

import json

import pytest

from berth.distribution.client import auth
from berth.distribution.client.errors import RegistryError
from berth.distribution.credentials import Credentials


def test_token_lifetime_default_and_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth.time, "monotonic", lambda: 1000.0)
    token = auth._parse_token(json.dumps({"access_token": "abc"}).encode(), "r")
    assert token.value == "abc" and token.expires_at == 1000.0 + 60 - 10  # token.md: 60 s default
    short = auth._parse_token(json.dumps({"token": "t", "expires_in": 1}).encode(), "r")
    assert short.expires_at == 1000.0 + 20 - 10  # never shorter than twice the refresh margin


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"token": ""}', b'{"expires_in": 5}', b'{"token": 3}']
)
def test_malformed_token_responses(body: bytes) -> None:
    with pytest.raises(RegistryError, match="token"):
        auth._parse_token(body, "r")


def test_cache_is_per_user_and_scope_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    a = auth.Authenticator("r.example")
    assert a.learn('Bearer realm="https://r.example/token",service="r"') is not None
    alice, bob = Credentials("alice", "x"), Credentials("bob", "y")
    pull = (auth.scope_for("a/b", ["pull"]),)
    a._tokens[a._key(alice, pull)] = auth._Token("t-alice", now[0] + 50)
    assert a.cached_header(alice, pull) == "Bearer t-alice"
    assert a.cached_header(bob, pull) is None
    assert a.cached_header(alice, (auth.scope_for("a/b", ["push", "pull"]),)) is None
    now[0] += 51
    assert a.cached_header(alice, pull) is None  # expired: the next request fetches a new one
    now[0] -= 51
    a.forget(alice, pull)
    assert a.cached_header(alice, pull) is None


def test_basic_challenge_uses_credentials_directly() -> None:
    a = auth.Authenticator("r.example")
    a.learn('Bearer, Basic realm="x"')  # a Bearer challenge without a realm cannot be used
    assert a.challenge is not None and a.challenge.scheme == "basic"
    a.learn('Basic realm="x", Bearer realm="https://t/"')
    assert a.challenge.scheme == "bearer"
    b = auth.Authenticator("r.example")
    b.learn('Basic realm="x"')
    assert b.cached_header(Credentials("u", "p"), ()) == "Basic dTpw"
    assert b.cached_header(None, ()) is None


def test_scope_actions_are_sorted_and_unique() -> None:
    assert auth.scope_for("lib/x", ["push", "pull", "pull"]) == "repository:lib/x:pull,push"
