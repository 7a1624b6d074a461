"""Scopes, access rules, htpasswd and ES256 tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.distribution.auth import (
    AccessPolicy,
    Htpasswd,
    Scope,
    TokenInvalid,
    TokenIssuer,
    TokenVerifier,
    generate_key,
)
from berth.distribution.auth.htpasswd import hash_password
from berth.distribution.auth.token import granted_scopes, load_private_key
from berth.errors import InvalidArgument


def test_scope_parsing() -> None:
    scope = Scope.parse("repository:localhost:5000/app:pull,push")
    assert scope == Scope("repository", "localhost:5000/app", ("pull", "push"))
    assert str(scope) == "repository:localhost:5000/app:pull,push"
    for bad in ("repository", "repository:x", ":x:pull"):
        with pytest.raises(InvalidArgument):
            Scope.parse(bad)


def test_access_policy() -> None:
    policy = AccessPolicy.from_config(
        [
            {"account": "alice", "repository": "*", "actions": ["*"]},
            {"account": "*", "repository": "team/*", "actions": ["pull"]},
            {"account": "", "repository": "public/*", "actions": ["pull"]},
        ]
    )
    wanted = Scope("repository", "team/app", ("pull", "push"))
    assert policy.granted("alice", wanted) == ("pull", "push")
    assert policy.granted("bob", wanted) == ("pull",)
    assert policy.granted(None, wanted) == ()
    assert policy.granted(None, Scope("repository", "public/x", ("pull",))) == ("pull",)
    assert policy.allows("alice", Scope("registry", "catalog", ("*",)))
    assert not policy.allows("bob", Scope("registry", "catalog", ("*",)))
    with pytest.raises(InvalidArgument):
        AccessPolicy.from_config([{"account": "x", "actions": ["fly"]}])


def test_no_rules_means_authenticated_users_may_do_everything() -> None:
    policy = AccessPolicy([])
    scope = Scope("repository", "any", ("pull", "push", "delete"))
    assert policy.allows("someone", scope) and not policy.allows(None, scope)


def test_htpasswd(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    apache_style = hash_password("pw", rounds=4).replace("$2b$", "$2y$", 1)
    path.write_text(f"# comment\nalice:{apache_style}\n\n")
    users = Htpasswd.load(path)
    assert users.verify("alice", "pw")
    assert not users.verify("alice", "PW") and not users.verify("bob", "pw")
    path.write_text("carol:{SHA}abc\n")
    with pytest.raises(InvalidArgument):
        Htpasswd.load(path)


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    generate_key(tmp_path / "key.pem")
    return TokenIssuer(load_private_key(tmp_path / "key.pem"), "berth", "registry", expiry=60)


def test_token_round_trip(issuer: TokenIssuer) -> None:
    token, expires = issuer.issue("alice", [Scope("repository", "app", ("pull",))])
    verifier = TokenVerifier(issuer.private_key.public_key(), "berth", "registry")
    claims = verifier.verify(token)
    assert claims["sub"] == "alice" and expires == 60
    assert granted_scopes(claims) == [Scope("repository", "app", ("pull",))]


def test_token_checks(issuer: TokenIssuer, tmp_path: Path) -> None:
    token, _ = issuer.issue("alice", [])
    public = issuer.private_key.public_key()
    with pytest.raises(TokenInvalid, match="issuer"):
        TokenVerifier(public, "someone-else", "registry").verify(token)
    with pytest.raises(TokenInvalid, match="service"):
        TokenVerifier(public, "berth", "other-registry").verify(token)
    generate_key(tmp_path / "other.pem")
    stranger = load_private_key(tmp_path / "other.pem").public_key()
    with pytest.raises(TokenInvalid, match="signature"):
        TokenVerifier(stranger, "berth", "registry").verify(token)
    expired = TokenIssuer(issuer.private_key, "berth", "registry", expiry=-120)
    with pytest.raises(TokenInvalid, match="expired"):
        TokenVerifier(public, "berth", "registry").verify(expired.issue("a", [])[0])
    with pytest.raises(TokenInvalid):
        TokenVerifier(public, "berth", "registry").verify("a.b")
