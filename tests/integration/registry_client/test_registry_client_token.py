"""Bearer token auth (the Docker registry token protocol) against docker-registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.client.errors import Unauthorized
from berth.distribution.credentials import Credentials
from berth.distribution.transports import TransportContext, copy
from tests.integration.registry_client.docker_registry import DockerRegistry, token_auth_yaml
from tests.integration.registry_client.images import make_layout
from tests.integration.registry_client.token_server import ISSUER, SERVICE, TokenServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def token_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DockerRegistry, TokenServer]]:
    root = tmp_path_factory.mktemp("tokenreg")
    with (
        TokenServer(root) as server,
        DockerRegistry(root / "registry", token_auth_yaml(server.realm, ISSUER, SERVICE, server.cert)) as reg,
    ):
        yield reg, server


def test_push_and_pull_with_bearer_tokens(
    tmp_path: Path, token_setup: tuple[DockerRegistry, TokenServer], ctx: TransportContext
) -> None:
    reg, server = token_setup
    digest = make_layout(tmp_path / "src", "v1", [{"t": b"token layer"}])
    ctx.credentials = Credentials("alice", "s3cret")
    server.requests.clear()
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{reg.host}/tok/app:v1", ctx)
    assert ("alice", ["repository:tok/app:pull,push"]) in server.requests
    assert len(server.requests) == 1  # one token, cached for every request of the push

    ctx.credentials = None  # anonymous clients get pull tokens
    server.requests.clear()
    pulled = copy(f"docker://{reg.host}/tok/app:v1", f"oci:{tmp_path / 'dst'}", ctx)
    assert str(pulled.manifest.digest) == digest
    assert server.requests == [(None, ["repository:tok/app:pull"])]

    with pytest.raises(Unauthorized, match=r"authentication required for blob upload.*berth login"):
        copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{reg.host}/tok/other:v1", ctx)


def test_cross_repository_mount_asks_for_both_scopes(
    tmp_path: Path, token_setup: tuple[DockerRegistry, TokenServer], ctx: TransportContext
) -> None:
    reg, server = token_setup
    make_layout(tmp_path / "src", "v1", [{"m": b"mount me"}])
    ctx.credentials = Credentials("alice", "s3cret")
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{reg.host}/tok/from:v1", ctx)
    server.requests.clear()
    copy(f"docker://{reg.host}/tok/from:v1", f"docker://{reg.host}/tok/to:v1", ctx)
    assert ("alice", ["repository:tok/to:pull,push", "repository:tok/from:pull"]) in server.requests


def test_wrong_password_at_the_token_server(
    tmp_path: Path, token_setup: tuple[DockerRegistry, TokenServer], ctx: TransportContext
) -> None:
    reg, _ = token_setup
    ctx.credentials = Credentials("alice", "nope")
    with pytest.raises(Unauthorized) as info:
        copy(f"docker://{reg.host}/tok/app:v1", f"oci:{tmp_path / 'dst'}", ctx)
    assert str(info.value) == f"{reg.host}: token server refused credentials as 'alice' (HTTP 401)"
