"""Interop with skopeo 1.9: Berth pushes and skopeo reads; skopeo pushes and Berth pulls."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.client.registry import RetryPolicy
from berth.distribution.transports import TransportContext, copy
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import layout_entry, make_layout

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    with DockerRegistry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture
def ctx(tmp_path: Path) -> TransportContext:
    return TransportContext(tls_verify=False, authfile=tmp_path / "auth.json", retry=RetryPolicy(base=0.01))


def skopeo(*args: str) -> str:
    out = subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True, timeout=120)
    return out.stdout


def test_berth_pushes_skopeo_inspects_and_copies(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"a": b"alpha"}, {"b": b"beta" * 100_000}])
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/interop/berth:v1", ctx)
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/interop/berth:v1"))
    assert info["Digest"] == digest and len(info["Layers"]) == 2
    skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{registry.host}/interop/berth:v1",
        f"oci:{tmp_path / 'sk'}:v1",
    )
    assert layout_entry(tmp_path / "sk", "v1")["digest"] == digest
    # skopeo reads Berth's OCI layouts and archives too
    copy(f"oci:{tmp_path / 'src'}:v1", f"oci-archive:{tmp_path / 'a.tar'}:v1", ctx)
    raw = json.loads(skopeo("inspect", "--raw", f"oci-archive:{tmp_path / 'a.tar'}:v1"))
    assert len(raw["layers"]) == 2
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker-archive:{tmp_path / 'd.tar'}:interop/berth:v1", ctx)
    dinfo = json.loads(skopeo("inspect", f"docker-archive:{tmp_path / 'd.tar'}"))
    assert len(dinfo["Layers"]) == 2


def test_skopeo_pushes_berth_pulls(tmp_path: Path, registry: DockerRegistry, ctx: TransportContext) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"c": b"gamma"}])
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{tmp_path / 'src'}:v1",
        f"docker://{registry.host}/interop/skopeo:v1",
    )
    pulled = copy(f"docker://{registry.host}/interop/skopeo:v1", f"oci:{tmp_path / 'dst'}:v1", ctx)
    assert str(pulled.manifest.digest) == digest
    # skopeo's docker-archive is readable by Berth
    skopeo("copy", f"oci:{tmp_path / 'src'}:v1", f"docker-archive:{tmp_path / 's.tar'}:interop/skopeo:v1")
    back = copy(
        f"docker-archive:{tmp_path / 's.tar'}:interop/skopeo:v1", f"oci:{tmp_path / 'fromarchive'}:v1", ctx
    )
    config = json.loads((tmp_path / "fromarchive/blobs/sha256" / back.manifest.digest.encoded).read_text())[
        "config"
    ]
    assert (tmp_path / "fromarchive/blobs/sha256" / config["digest"].split(":")[1]).exists()


def test_credentials_written_by_skopeo_login_work_in_berth_and_back(tmp_path: Path) -> None:
    from berth.cli.main import main as berth_main
    from tests.integration.registry_client.docker_registry import basic_auth_yaml, htpasswd_line

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(htpasswd_line("bob", "pw"))
    with DockerRegistry(tmp_path / "reg", basic_auth_yaml(htpasswd)) as reg:
        authfile = tmp_path / "auth.json"
        skopeo("login", "--tls-verify=false", "--authfile", str(authfile), "-u", "bob", "-p", "pw", reg.host)
        ctx = TransportContext(tls_verify=False, authfile=authfile, retry=RetryPolicy(base=0.01))
        digest = make_layout(tmp_path / "src", "v1", [{"d": b"delta"}])
        assert (
            str(copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{reg.host}/priv/app:v1", ctx).manifest.digest)
            == digest
        )
        other = tmp_path / "berth-auth.json"
        assert (
            berth_main(
                ["login", "--tls-verify=false", "--authfile", str(other), "-u", "bob", "-p", "pw", reg.host]
            )
            == 0
        )
        info = json.loads(
            skopeo(
                "inspect", "--tls-verify=false", "--authfile", str(other), f"docker://{reg.host}/priv/app:v1"
            )
        )
        assert info["Digest"] == digest
