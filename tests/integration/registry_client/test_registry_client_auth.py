"""Basic auth against docker-registry with an htpasswd file; login/logout; clear 401 errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.cli.main import main as berth_main
from berth.distribution.client.errors import Unauthorized
from berth.distribution.credentials import Credentials
from berth.distribution.transports import TransportContext, copy
from tests.integration.registry_client.docker_registry import DockerRegistry, basic_auth_yaml, htpasswd_line
from tests.integration.registry_client.images import make_layout

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    root = tmp_path_factory.mktemp("authreg")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line("alice", "s3cret"))
    with DockerRegistry(root, basic_auth_yaml(htpasswd)) as reg:
        yield reg


def test_push_pull_with_basic_credentials(
    tmp_path: Path, auth_registry: DockerRegistry, ctx: TransportContext
) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"f": b"secret layer"}])
    with pytest.raises(Unauthorized, match=r"authentication required.*berth login"):
        copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{auth_registry.host}/private/app:v1", ctx)
    ctx.credentials = Credentials("alice", "s3cret")
    assert (
        str(
            copy(
                f"oci:{tmp_path / 'src'}:v1", f"docker://{auth_registry.host}/private/app:v1", ctx
            ).manifest.digest
        )
        == digest
    )
    ctx.credentials = None
    authfile = Path(str(ctx.authfile))
    authfile.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": "YWxpY2U6czNjcmV0"}}}))
    assert (
        str(
            copy(
                f"docker://{auth_registry.host}/private/app:v1", f"oci:{tmp_path / 'dst'}", ctx
            ).manifest.digest
        )
        == digest
    )


def test_bad_password_is_one_clear_line(
    tmp_path: Path, auth_registry: DockerRegistry, ctx: TransportContext
) -> None:
    ctx.credentials = Credentials("alice", "wrong")
    with pytest.raises(Unauthorized) as info:
        copy(f"docker://{auth_registry.host}/private/app:v1", f"oci:{tmp_path / 'dst'}", ctx)
    assert str(info.value) == f"{auth_registry.host}: credentials for 'alice' were rejected (HTTP 401)"
    assert not (tmp_path / "dst").exists()


def test_login_checks_then_writes_and_logout_removes(
    tmp_path: Path, auth_registry: DockerRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    authfile = tmp_path / "auth.json"
    host = auth_registry.host
    args = [
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "--password-stdin",
        host,
    ]
    import io
    import sys

    old = sys.stdin
    try:
        sys.stdin = io.StringIO("wrong\n")
        assert berth_main(args) != 0
        assert not authfile.exists()
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and "rejected" in err
        sys.stdin = io.StringIO("s3cret\n")
        assert berth_main(args) == 0
    finally:
        sys.stdin = old
    assert "Login Succeeded" in capsys.readouterr().out
    doc = json.loads(authfile.read_text())
    assert doc["auths"][host]["auth"] == "YWxpY2U6czNjcmV0"
    assert authfile.stat().st_mode & 0o777 == 0o600
    assert berth_main(["logout", "--authfile", str(authfile), host]) == 0
    assert json.loads(authfile.read_text())["auths"] == {}
    assert berth_main(["logout", "--authfile", str(authfile), host]) != 0


def test_copy_with_per_side_credentials_and_tls_flags(
    tmp_path: Path, auth_registry: DockerRegistry, registry: DockerRegistry
) -> None:
    make_layout(tmp_path / "src", "v1", [{"s": b"sides"}])
    ctx = TransportContext(tls_verify=False, authfile=tmp_path / "none.json")
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/sides/app:v1", ctx)
    args = [
        "copy", "-q", "--authfile", str(tmp_path / "none.json"), "--src-tls-verify=false",
        "--dest-tls-verify=false", "--dest-creds", "alice:s3cret",
        f"docker://{registry.host}/sides/app:v1", f"docker://{auth_registry.host}/sides/app:v1",
    ]  # fmt: skip
    assert berth_main(args) == 0
    args[args.index("alice:s3cret")] = "alice:wrong"
    assert berth_main(args) == 125
