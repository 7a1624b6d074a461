"""Authentication: htpasswd Basic and ES256 bearer tokens, with per-repository rights."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.auth import generate_key, hash_password
from berth.distribution.server import RegistryConfig, TokenConfig
from tests.integration.registry_server.harness import Server, running_registry

pytestmark = pytest.mark.timeout(60)

ACCESS = [
    {"account": "alice", "repository": "*", "actions": ["pull", "push", "delete"]},
    {"account": "bob", "repository": "shared/*", "actions": ["pull"]},
    {"account": "", "repository": "public/*", "actions": ["pull"]},
]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(
        f"alice:{hash_password('wonderland', rounds=4)}\nbob:{hash_password('builder', rounds=4)}\n"
    )
    return path


@pytest.fixture
def basic_registry(tmp_path: Path, htpasswd: Path) -> Iterator[Server]:
    config = RegistryConfig(root=tmp_path / "root", htpasswd=htpasswd, access=ACCESS)
    with running_registry(config) as server:
        yield server


@pytest.fixture
def token_registry(tmp_path: Path, htpasswd: Path) -> Iterator[Server]:
    generate_key(tmp_path / "key.pem")
    config = RegistryConfig(
        root=tmp_path / "root",
        htpasswd=htpasswd,
        access=ACCESS,
        token=TokenConfig(service="test-registry", issuer="test", key=tmp_path / "key.pem"),
    )
    with running_registry(config) as server:
        yield server


def test_basic_missing_credentials_get_a_challenge(basic_registry: Server) -> None:
    reply = basic_registry.request("GET", "/v2/")
    assert reply.status == 401 and reply.error_codes() == ["UNAUTHORIZED"]
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="berth-registry"'
    pull = basic_registry.request("GET", "/v2/private/tags/list")
    assert pull.status == 401 and pull.headers["WWW-Authenticate"].startswith("Basic ")


def test_basic_bad_credentials(basic_registry: Server) -> None:
    for headers in (basic("alice", "wrong"), basic("mallory", "x"), {"Authorization": "Basic !!!"}):
        reply = basic_registry.request("GET", "/v2/", headers=headers)
        assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Basic ")


def test_basic_rights_per_repository(basic_registry: Server) -> None:
    alice, bob = basic("alice", "wonderland"), basic("bob", "builder")
    assert basic_registry.request("GET", "/v2/", headers=alice).status == 200
    push = basic_registry.request("POST", "/v2/shared/app/blobs/uploads/", headers=alice)
    assert push.status == 202
    denied = basic_registry.request("POST", "/v2/shared/app/blobs/uploads/", headers=bob)
    assert denied.status == 403 and denied.error_codes() == ["DENIED"]
    assert basic_registry.request("GET", "/v2/shared/app/tags/list", headers=bob).status == 200
    assert basic_registry.request("GET", "/v2/other/tags/list", headers=bob).status == 403
    # Anonymous users may pull public/* only.
    assert basic_registry.request("GET", "/v2/public/x/tags/list").status == 404  # allowed, but empty
    assert basic_registry.request("POST", "/v2/public/x/blobs/uploads/").status == 401


def test_mount_needs_pull_on_the_source(basic_registry: Server) -> None:
    alice = basic("alice", "wonderland")
    digest = basic_registry.push_blob_as("private/src", b"secret", alice)
    bob_mount = basic_registry.request(
        "POST",
        f"/v2/shared/x/blobs/uploads/?mount={digest}&from=private/src",
        headers=basic("bob", "builder"),
    )
    assert bob_mount.status == 403


def token_for(server: Server, scope: str, headers: dict[str, str] | None = None) -> str:
    reply = server.request("GET", f"/token?service=test-registry&scope={scope}", headers=headers)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    return str(body["token"])


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_token_challenge_names_realm_service_and_scope(token_registry: Server) -> None:
    reply = token_registry.request("GET", "/v2/lib/app/tags/list")
    assert reply.status == 401 and reply.error_codes() == ["UNAUTHORIZED"]
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="http://127.0.0.1:')
    assert '/token",service="test-registry",scope="repository:lib/app:pull"' in challenge


def test_token_grants_what_the_policy_allows(token_registry: Server) -> None:
    token = token_for(token_registry, "repository:lib/app:pull,push", basic("alice", "wonderland"))
    assert claims(token)["access"] == [{"type": "repository", "name": "lib/app", "actions": ["pull", "push"]}]
    bearer = {"Authorization": f"Bearer {token}"}
    assert token_registry.request("POST", "/v2/lib/app/blobs/uploads/", headers=bearer).status == 202
    # A token for lib/app says nothing about another repository.
    other = token_registry.request("GET", "/v2/lib/other/tags/list", headers=bearer)
    assert other.status == 401 and 'error="insufficient_scope"' in other.headers["WWW-Authenticate"]


def test_token_missing_a_scope_is_insufficient(token_registry: Server) -> None:
    token = token_for(token_registry, "repository:shared/x:pull,push", basic("bob", "builder"))
    assert claims(token)["access"] == [{"type": "repository", "name": "shared/x", "actions": ["pull"]}]
    reply = token_registry.request(
        "POST", "/v2/shared/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert 'scope="repository:shared/x:pull,push"' in challenge and 'error="insufficient_scope"' in challenge


def test_anonymous_token_and_bad_tokens(token_registry: Server) -> None:
    anonymous = token_for(token_registry, "repository:public/p:pull,push")
    assert claims(anonymous)["access"] == [{"type": "repository", "name": "public/p", "actions": ["pull"]}]
    bad_login = token_registry.request(
        "GET", "/token?scope=repository:x:pull", headers=basic("alice", "nope")
    )
    assert bad_login.status == 401
    head, payload, signature = anonymous.split(".")
    forged_claims = (
        base64.urlsafe_b64encode(
            json.dumps(
                {**claims(anonymous), "access": [{"type": "repository", "name": "x", "actions": ["push"]}]}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    for token in (f"{head}.{forged_claims}.{signature}", "not-a-token", f"{head}.{payload}.AAAA"):
        reply = token_registry.request("GET", "/v2/", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 401 and 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_oauth2_password_grant(token_registry: Server) -> None:
    form = (
        "grant_type=password&username=alice&password=wonderland"
        "&service=test-registry&scope=repository:a/b:pull"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    reply = token_registry.request("POST", "/token", form.encode(), headers)
    assert reply.status == 200 and reply.json()["scope"] == "repository:a/b:pull"
    bearer = {"Authorization": f"Bearer {reply.json()['access_token']}"}
    assert token_registry.request("GET", "/v2/a/b/tags/list", headers=bearer).status == 404  # allowed, empty
    wrong = form.replace("wonderland", "nope")
    assert token_registry.request("POST", "/token", wrong.encode(), headers).status == 401
    refresh = "grant_type=refresh_token&refresh_token=x&service=test-registry"
    assert token_registry.request("POST", "/token", refresh.encode(), headers).status == 400
