"""skopeo copies images into and out of ``berth registry serve``: anonymous, Basic, token auth, TLS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from berth.distribution.auth import generate_key, hash_password
from tests.integration.registry_server.peers import run, serve_cli, write_oci_layout, write_self_signed

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "layout"
    path.mkdir()
    return path, write_oci_layout(path)


def round_trip(addr: str, layout: tuple[Path, str], tmp_path: Path, *auth: str) -> None:
    """Copy the layout into the registry and back out; the manifest digest must survive."""
    source, digest = layout
    ref = f"docker://{addr}/berth/test:v1"
    run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        *[a.replace("--creds", "--dest-creds") for a in auth],
        f"oci:{source}:v1",
        ref,
    )
    inspected = json.loads(
        run("skopeo", "inspect", "--tls-verify=false", *auth, "--raw", ref.replace(":v1", f"@{digest}"))
    )
    assert inspected["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    out = tmp_path / "out"
    run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *[a.replace("--creds", "--src-creds") for a in auth],
        ref,
        f"oci:{out}:copied",
    )
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    assert (
        run("skopeo", "list-tags", "--tls-verify=false", *auth, f"docker://{addr}/berth/test").count("v1")
        == 1
    )


def test_skopeo_anonymous(tmp_path: Path, layout: tuple[Path, str]) -> None:
    with serve_cli(tmp_path / "root") as addr:
        round_trip(addr, layout, tmp_path)


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{hash_password('secret', rounds=4)}\n")
    return path


def test_skopeo_basic_auth(tmp_path: Path, layout: tuple[Path, str], htpasswd: Path) -> None:
    with serve_cli(tmp_path / "root", "--htpasswd", str(htpasswd)) as addr:
        round_trip(addr, layout, tmp_path, "--creds=alice:secret")
        with pytest.raises(AssertionError, match=r"(?i)unauthorized|authentication"):
            run(
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds=alice:wrong",
                f"oci:{layout[0]}:v1",
                f"docker://{addr}/berth/test:v2",
            )


def test_skopeo_token_auth(tmp_path: Path, layout: tuple[Path, str], htpasswd: Path) -> None:
    generate_key(tmp_path / "token.pem")
    config = tmp_path / "registry.toml"
    config.write_text(
        f'htpasswd = "{htpasswd}"\n[token]\nkey = "{tmp_path / "token.pem"}"\n'
        '[[access]]\naccount = "alice"\nrepository = "berth/*"\nactions = ["pull", "push"]\n'
    )
    with serve_cli(tmp_path / "root", "--config", str(config)) as addr:
        round_trip(addr, layout, tmp_path, "--creds=alice:secret")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert_path, key_path)
    return cert_path, key_path


def test_skopeo_over_tls(tmp_path: Path, layout: tuple[Path, str], certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with serve_cli(tmp_path / "root", "--tls-cert", str(cert), "--tls-key", str(key)) as addr:
        certs = tmp_path / "certs.d"
        certs.mkdir()
        shutil.copy(cert, certs / "ca.crt")
        run(
            "skopeo",
            "copy",
            f"--dest-cert-dir={certs}",
            f"oci:{layout[0]}:v1",
            f"docker://{addr}/berth/tls:v1",
        )
        tags = json.loads(run("skopeo", "list-tags", f"--cert-dir={certs}", f"docker://{addr}/berth/tls"))
        assert tags["Tags"] == ["v1"]
