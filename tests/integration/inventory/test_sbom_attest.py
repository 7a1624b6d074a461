"""``berth sbom`` of registry images, ``--sign`` (an in-toto attestation in a DSSE envelope) and
``--attach`` (an OCI 1.1 referrer of the image): against Berth's registry, which indexes referrers,
and Debian's docker-registry, which does not (the referrers tag schema)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.distribution.client.session import RegistryClient
from berth.distribution.registries_conf import RegistriesConf
from berth.distribution.server.config import RegistryConfig
from berth.inventory import attest
from berth.spec.digest import Digest
from berth.trust import keys
from tests.integration.inventory.images import layer_tar, store_image
from tests.integration.inventory.runner import Sbom
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_server.harness import running_registry

pytestmark = pytest.mark.timeout(180)

FILES = {
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": b"Name: requests\nVersion: 2.31.0\n",
    "usr/lib/python3/dist-packages/idna-3.6.dist-info/METADATA": b"Name: idna\nVersion: 3.6\n",
}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    with running_registry(RegistryConfig(root=tmp_path / "registry")) as server:
        yield f"{server.host}:{server.port}"


def _push(sbom: Sbom, host: str, tmp_path: Path) -> list[str]:
    store_image(sbom.root, "localhost/app:1", [layer_tar(FILES)])
    flags = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json")]
    assert sbom("push", *flags, "localhost/app:1", f"docker://{host}/team/app:1") == 0, sbom.err
    return flags


def _referrers(host: str, digest: str) -> tuple[list[dict[str, Any]], Any]:
    """The referrers of ``digest`` in ``host``'s team/app, and a function that reads a blob."""

    async def run() -> tuple[list[dict[str, Any]], dict[str, bytes]]:
        async with RegistryClient(tls_verify=False, registries_conf=RegistriesConf()) as client:
            repo = client.repository(host, "team/app", insecure=True)
            found = await repo.referrers(Digest.parse(digest))
            blobs = {}
            for entry in found:
                manifest = json.loads((await repo.get_manifest(str(entry["digest"]))).data)
                layer = manifest["layers"][0]
                data = b"".join(
                    [c async for c in repo.fetch_blob(Digest.parse(layer["digest"]), layer["size"])]
                )
                blobs[str(entry["digest"])] = data
            return found, blobs

    return asyncio.run(run())


def _digest(host: str) -> str:
    async def run() -> str:
        async with RegistryClient(tls_verify=False, registries_conf=RegistriesConf()) as client:
            head = await client.repository(host, "team/app", insecure=True).head_manifest("1")
            assert head is not None and head.digest is not None
            return str(head.digest)

    return asyncio.run(run())


def _check_attached(sbom: Sbom, host: str, tmp_path: Path, flags: list[str]) -> None:
    out = tmp_path / "app.spdx.json"
    assert sbom("sbom", "--attach", *flags, "-o", str(out), f"docker://{host}/team/app:1") == 0, sbom.err
    document = out.read_bytes()
    names = {p["name"] for p in json.loads(document)["packages"] if p.get("versionInfo")}
    assert {"requests", "idna"} <= names
    found, blobs = _referrers(host, _digest(host))
    assert [e["artifactType"] for e in found] == ["application/spdx+json"]
    assert list(blobs.values()) == [document]


def test_sbom_of_a_registry_image_attached_as_a_referrer(sbom: Sbom, registry: str, tmp_path: Path) -> None:
    flags = _push(sbom, registry, tmp_path)
    _check_attached(sbom, registry, tmp_path, flags)


def test_attach_falls_back_to_the_referrers_tag_schema(sbom: Sbom, tmp_path: Path) -> None:
    with DockerRegistry(tmp_path / "distribution") as registry:  # distribution 2.8: no referrers API
        flags = _push(sbom, registry.host, tmp_path)
        _check_attached(sbom, registry.host, tmp_path, flags)


def test_signed_attestation_verifies_and_names_the_image(sbom: Sbom, registry: str, tmp_path: Path) -> None:
    flags = _push(sbom, registry, tmp_path)
    (tmp_path / "pass").write_text("s3cret\n")
    prefix = tmp_path / "signer"
    assert (
        sbom("key", "generate", "--output-prefix", str(prefix), "--passphrase-file", str(tmp_path / "pass"))
        == 0
    )
    out = tmp_path / "app.intoto.json"
    signing = ["--sign", f"{prefix}.private", "--passphrase-file", str(tmp_path / "pass")]
    image = f"docker://{registry}/team/app:1"
    assert (
        sbom("sbom", "--format", "cyclonedx-json", *signing, "--attach", *flags, "-o", str(out), image) == 0
    ), sbom.err
    public = keys.load_public_key(Path(f"{prefix}.pub").read_bytes())
    statement = attest.open_envelope(out.read_bytes(), public)
    digest = _digest(registry)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [
        {"name": f"{registry}/team/app:1", "digest": {"sha256": digest.split(":")[1]}}
    ]
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert {c["name"] for c in statement["predicate"]["components"]} >= {"requests", "idna"}  # type: ignore[index]
    found, blobs = _referrers(registry, digest)
    assert [e["artifactType"] for e in found] == ["application/vnd.dsse.envelope.v1+json"]
    assert found[0]["annotations"]["dev.sigstore.cosign/predicateType"] == "https://cyclonedx.org/bom"
    assert list(blobs.values()) == [out.read_bytes()]
    tampered = json.loads(out.read_bytes())
    tampered["payload"] = tampered["payload"][:-8] + "AAAAAAA="
    with pytest.raises(Exception, match=r"verif|DSSE"):
        attest.open_envelope(json.dumps(tampered).encode(), public)


def test_store_image_attaches_under_its_registry_name(sbom: Sbom, registry: str, tmp_path: Path) -> None:
    flags = _push(sbom, registry, tmp_path)
    assert sbom("tag", "localhost/app:1", f"{registry}/team/app:1") == 0, sbom.err
    out = tmp_path / "doc.json"
    assert sbom("sbom", "--attach", *flags, "-o", str(out), f"{registry}/team/app:1") == 0, sbom.err
    assert len(_referrers(registry, _digest(registry))[0]) == 1


def test_bad_input_leaves_nothing_in_the_registry(sbom: Sbom, registry: str, tmp_path: Path) -> None:
    flags = _push(sbom, registry, tmp_path)
    assert sbom("sbom", "--attach", *flags, "localhost/app:1") == 125
    assert "in no registry" in sbom.err and sbom.err.count("\n") == 1
    assert sbom("sbom", "--sign", str(tmp_path / "missing.key"), "localhost/app:1") == 125
    assert "does not exist" in sbom.err
    (tmp_path / "pass").write_text("right\n")
    (tmp_path / "wrong").write_text("wrong\n")
    prefix = tmp_path / "k"
    assert (
        sbom("key", "generate", "--output-prefix", str(prefix), "--passphrase-file", str(tmp_path / "pass"))
        == 0
    )
    wrong = ["--sign", f"{prefix}.private", "--passphrase-file", str(tmp_path / "wrong")]
    assert sbom("sbom", *wrong, "--attach", *flags, f"docker://{registry}/team/app:1") == 125
    store_image(sbom.root, "localhost/other:2", [layer_tar(FILES)])
    assert sbom("tag", "localhost/other:2", f"{registry}/team/never-pushed:2") == 0
    assert sbom("sbom", "--attach", *flags, f"{registry}/team/never-pushed:2") == 125
    assert "push the image first" in sbom.err
    assert _referrers(registry, _digest(registry))[0] == []
