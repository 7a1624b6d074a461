"""Berth's client against Berth's own registry (``berth registry serve``), over HTTPS with a
self-signed certificate: unverified TLS with ``--tls-verify=false``, a clear error without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.client.errors import RegistryError
from berth.distribution.client.registry import RetryPolicy
from berth.distribution.credentials import Credentials
from berth.distribution.transports import TransportContext, copy
from berth.errors import InvalidArgument
from tests.integration.registry_client.docker_registry import htpasswd_line
from tests.integration.registry_client.images import make_layout
from tests.integration.registry_server.peers import serve_cli, write_self_signed

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def berth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("berthreg")
    write_self_signed(root / "cert.pem", root / "key.pem")
    (root / "htpasswd").write_text(htpasswd_line("carol", "pw"))
    tls = ("--tls-cert", str(root / "cert.pem"), "--tls-key", str(root / "key.pem"))
    with serve_cli(root / "data", "--htpasswd", str(root / "htpasswd"), *tls) as addr:
        yield addr, root / "cert.pem"


def test_push_pull_over_unverified_https_with_basic_auth(
    tmp_path: Path, berth_registry: tuple[str, Path]
) -> None:
    host = berth_registry[0]
    digest = make_layout(tmp_path / "src", "v1", [{"x": b"berth to berth"}, {"y": b"y" * 9_000_000}])
    ctx = TransportContext(
        tls_verify=False, authfile=tmp_path / "auth.json", credentials=Credentials("carol", "pw"),
        retry=RetryPolicy(base=0.01),
    )  # fmt: skip
    assert (
        str(copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{host}/b2b/app:v1", ctx).manifest.digest) == digest
    )
    pulled = copy(f"docker://{host}/b2b/app:v1", f"oci:{tmp_path / 'dst'}:v1", ctx)
    assert str(pulled.manifest.digest) == digest
    mounted = copy(f"docker://{host}/b2b/app:v1", f"docker://{host}/b2b/copy:v1", ctx)
    assert str(mounted.manifest.digest) == digest


def test_self_signed_certificate_is_refused_when_verifying(
    tmp_path: Path, berth_registry: tuple[str, Path]
) -> None:
    host = berth_registry[0]
    ctx = TransportContext(authfile=tmp_path / "auth.json", retry=RetryPolicy(attempts=1))
    with pytest.raises(
        RegistryError, match=r"cannot reach registry 127\.0\.0\.1:\d+: .*certificate.*--cert-dir"
    ):
        copy(f"docker://{host}/b2b/app:v1", f"oci:{tmp_path / 'dst'}", ctx)


def test_cert_dir_makes_the_certificate_trusted(tmp_path: Path, berth_registry: tuple[str, Path]) -> None:
    host, cert = berth_registry
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(cert.read_bytes())
    digest = make_layout(tmp_path / "src", "v1", [{"z": b"verified"}])
    ctx = TransportContext(
        authfile=tmp_path / "auth.json", credentials=Credentials("carol", "pw"), cert_dir=cert_dir,
        retry=RetryPolicy(base=0.01),
    )  # fmt: skip
    assert (
        str(copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{host}/b2b/tls:v1", ctx).manifest.digest) == digest
    )
    (cert_dir / "client.cert").write_bytes(cert.read_bytes())
    with pytest.raises(InvalidArgument, match=r"has no key client\.key"):
        copy(f"docker://{host}/b2b/tls:v1", f"oci:{tmp_path / 'dst'}", ctx)
