"""berth sign and berth verify against Berth's registry: cosign's storage, and every refusal."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from berth.distribution.client.session import RegistryClient
from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust import attachments, keys
from berth.trust.errors import SignatureError
from berth.trust.signing import sign_image, verify_image
from tests.integration.registry_client.images import make_index_layout, make_layout
from tests.integration.trust.conftest import with_client

pytestmark = [pytest.mark.timeout(120)]


def _push(tmp_path: Path, ctx: TransportContext, ref: str, content: bytes) -> Digest:
    layout = tmp_path / Digest.of(ref.encode()).encoded[:12]  # no ':' in an oci: path
    make_layout(layout, "v1", [{"f": content}])
    return copy(f"oci:{layout}:v1", f"docker://{ref}", ctx).manifest.digest


def _sign(ctx: TransportContext, ref: str, pair: keys.KeyPair, **flags: bool) -> None:
    key = keys.load_private_key(pair.private_pem, b"pw")
    with_client(ctx, lambda c: sign_image(c, Reference.parse(ref), key, **flags))


def _verify(ctx: TransportContext, ref: str, pair: keys.KeyPair) -> tuple[Digest, list[object]]:
    public = [keys.load_public_key(pair.public_pem)]
    return with_client(ctx, lambda c: verify_image(c, Reference.parse(ref), public))  # type: ignore[arg-type]


def _sig_manifest(ctx: TransportContext, ref: str, digest: Digest) -> dict[str, object]:
    async def get(client: RegistryClient) -> bytes:
        repo = client.pull_repositories(Reference.parse(ref).name, by_digest=False)[0]
        return (await repo.get_manifest(attachments.signature_tag(digest))).data

    return json.loads(with_client(ctx, get))  # type: ignore[no-any-return]


def test_signature_is_stored_as_cosign_stores_it(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    ref = f"{registry}/sv/app:v1"
    digest = _push(tmp_path, ctx, ref, b"signed")
    _sign(ctx, ref, pair)
    manifest = _sig_manifest(ctx, ref, digest)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    [layer] = manifest["layers"]  # type: ignore[misc]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    got_digest, payloads = _verify(ctx, ref, pair)
    assert got_digest == digest
    [payload] = payloads
    assert payload.docker_reference == ref  # type: ignore[attr-defined]
    assert payload.manifest_digest == digest  # type: ignore[attr-defined]


def test_second_signature_is_appended(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair, other_pair: keys.KeyPair
) -> None:
    ref = f"{registry}/sv/two:v1"
    digest = _push(tmp_path, ctx, ref, b"twice")
    _sign(ctx, ref, pair)
    _sign(ctx, ref, other_pair)
    assert len(_sig_manifest(ctx, ref, digest)["layers"]) == 2  # type: ignore[arg-type]
    assert len(_verify(ctx, ref, pair)[1]) == 1
    assert len(_verify(ctx, ref, other_pair)[1]) == 1


def test_unsigned_image(tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair) -> None:
    ref = f"{registry}/sv/unsigned:v1"
    _push(tmp_path, ctx, ref, b"nobody signed me")
    with pytest.raises(SignatureError, match="no signature found"):
        _verify(ctx, ref, pair)


def test_wrong_key(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair, other_pair: keys.KeyPair
) -> None:
    ref = f"{registry}/sv/wrongkey:v1"
    _push(tmp_path, ctx, ref, b"wrong key")
    _sign(ctx, ref, pair)
    with pytest.raises(SignatureError, match="wrong key"):
        _verify(ctx, ref, other_pair)


def _copy_signatures(
    ctx: TransportContext, src: str, src_digest: Digest, dst: str, dst_digest: Digest
) -> None:
    """Put the signature manifest of ``src`` under the signature tag of ``dst`` (an attacker's move)."""
    src_tag = attachments.signature_tag(src_digest)
    dst_tag = attachments.signature_tag(dst_digest)
    host, _, rest = src.partition("/")
    copy(f"docker://{host}/{rest.split(':')[0]}:{src_tag}", f"docker://{dst.split(':v1')[0]}:{dst_tag}", ctx)


def test_signature_of_another_manifest_is_a_digest_mismatch(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    good, evil = f"{registry}/sv/good:v1", f"{registry}/sv/good-evil:v1"
    good_digest = _push(tmp_path, ctx, good, b"good")
    evil_digest = _push(tmp_path, ctx, evil, b"evil")
    _sign(ctx, good, pair)
    _copy_signatures(ctx, good, good_digest, f"{registry}/sv/good:v1", evil_digest)
    # The tag now points at evil content signed for good: pushed over the signed tag.
    copy(f"docker://{evil}", f"docker://{good}", ctx)
    with pytest.raises(SignatureError, match="digest mismatch"):
        _verify(ctx, good, pair)


def test_signature_for_another_repository_is_an_identity_mismatch(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    src, dst = f"{registry}/sv/origin:v1", f"{registry}/sv/elsewhere:v1"
    digest = _push(tmp_path, ctx, src, b"same content")
    _push(tmp_path, ctx, dst, b"same content")
    _sign(ctx, src, pair)
    _copy_signatures(ctx, src, digest, dst, digest)
    with pytest.raises(SignatureError, match="identity mismatch"):
        _verify(ctx, dst, pair)


def test_referrers_and_recursive_index(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    ref = f"{registry}/sv/multi:v1"
    index_digest, children = make_index_layout(tmp_path / "idx", "v1", [("amd64", ""), ("arm64", "")])
    copy(f"oci:{tmp_path / 'idx'}:v1", f"docker://{ref}", ctx, CopyOptions(all_platforms=True))
    _sign(ctx, ref, pair, referrers=True, recursive=True)
    for digest in (index_digest, *children.values()):
        assert _sig_manifest(ctx, ref, Digest.parse(digest))["layers"]

    async def referrers(client: RegistryClient) -> list[dict[str, object]]:
        repo = client.pull_repositories(Reference.parse(ref).name, by_digest=False)[0]
        return await repo.referrers(Digest.parse(index_digest))

    [referrer] = with_client(ctx, referrers)
    assert referrer["artifactType"] == attachments.REFERRER_ARTIFACT_TYPE


def test_cli_sign_and_verify(tmp_path: Path, registry: str, ctx: TransportContext) -> None:
    ref = f"{registry}/sv/cli:v1"
    _push(tmp_path, ctx, ref, b"cli")
    env = {**os.environ, "COSIGN_PASSWORD": "hunter2"}

    def berth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=False)  # fmt: skip

    assert berth("key", "generate", "--output-prefix", "k").returncode == 0
    signed = berth("sign", "--tls-verify=false", "--key", "k.private", f"docker://{ref}")
    assert signed.returncode == 0, signed.stderr
    verified = berth("verify", "--tls-verify=false", "--key", "k.pub", f"docker://{ref}")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["critical"]["identity"]["docker-reference"] == ref
    env["COSIGN_PASSWORD"] = "wrong"
    refused = berth("sign", "--tls-verify=false", "--key", "k.private", f"docker://{ref}")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "berth: k.private: wrong passphrase (or the key is corrupt)"
    missing = berth("verify", "--tls-verify=false", "--key", "nope.pub", f"docker://{ref}")
    assert missing.stderr.strip() == "berth: public key nope.pub does not exist"
