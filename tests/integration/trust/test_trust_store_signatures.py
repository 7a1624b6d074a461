"""Signatures of images in Berth's store: signed and verified there, carried by pull and push, made
by --sign-by* before the manifest is published, and forgotten when their manifest is collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.distribution.client.errors import ManifestUnknown
from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.distribution.transports.store import images_root
from berth.image import signatures
from berth.image.images import ImageStore
from berth.image.signatures import StoredSignature
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.carry import SignatureReader, signature_copier
from berth.trust.errors import PolicyError, SignatureError
from berth.trust.registries_d import Namespace, RegistriesD
from berth.trust.signing import (
    sign_image,
    sign_stored_image,
    sigstore_signer,
    verify_image,
    verify_stored_image,
)
from tests.integration.registry_client.images import make_layout
from tests.integration.trust.conftest import with_client

pytestmark = [pytest.mark.timeout(120)]

SIGSTORE_ON = RegistriesD(Namespace(use_sigstore_attachments=True))
SIGSTORE_OFF = RegistriesD()


def _store(ctx: TransportContext) -> ImageStore:
    assert ctx.root is not None
    return ImageStore(images_root(ctx.root))


def _into_store(tmp_path: Path, ctx: TransportContext, name: str, content: bytes) -> Digest:
    make_layout(tmp_path / "layout", "v1", [{"f": content}])
    return copy(f"oci:{tmp_path / 'layout'}:v1", f"berth:{name}", ctx).manifest.digest


def _carrying(registries: RegistriesD, *signers: object, remove: bool = False) -> CopyOptions:
    return CopyOptions(signatures=signature_copier(SignatureReader(registries), signers, remove=remove))  # type: ignore[arg-type]


def _sign_stored(ctx: TransportContext, name: str, pair: keys.KeyPair) -> None:
    store = _store(ctx)
    try:
        sign_stored_image(store, str(Reference.parse(name)), keys.load_private_key(pair.private_pem, b"pw"))
    finally:
        store.close()


def _verify_stored(ctx: TransportContext, name: str, pair: keys.KeyPair) -> tuple[Digest, list[object]]:
    store = _store(ctx)
    try:
        got = verify_stored_image(store, str(Reference.parse(name)), [keys.load_public_key(pair.public_pem)])
        return got[0], list(got[1])
    finally:
        store.close()


def test_store_image_is_signed_and_verified(
    tmp_path: Path, ctx: TransportContext, pair: keys.KeyPair, other_pair: keys.KeyPair
) -> None:
    digest = _into_store(tmp_path, ctx, "localhost/st/app:v1", b"stored")
    with pytest.raises(SignatureError, match="no signature found"):
        _verify_stored(ctx, "localhost/st/app:v1", pair)
    _sign_stored(ctx, "localhost/st/app:v1", pair)
    got, [payload] = _verify_stored(ctx, "localhost/st/app:v1", pair)
    assert got == digest
    assert payload.docker_reference == "localhost/st/app:v1"  # type: ignore[attr-defined]
    with pytest.raises(SignatureError, match="wrong key"):
        _verify_stored(ctx, "localhost/st/app:v1", other_pair)
    # Another name of the same manifest shares its signatures, but not another repository's identity.
    copy("berth:localhost/st/app:v1", "berth:localhost/st/other:v1", ctx)
    with pytest.raises(SignatureError, match="identity mismatch"):
        _verify_stored(ctx, "localhost/st/other:v1", pair)


def test_push_carries_store_signatures_and_pull_brings_them_back(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    digest = _into_store(tmp_path, ctx, f"{registry}/st/carried:v1", b"carried")
    _sign_stored(ctx, f"{registry}/st/carried:v1", pair)
    ref = f"{registry}/st/carried:v1"
    copy(f"berth:{ref}", f"docker://{ref}", ctx, _carrying(SIGSTORE_ON))
    public = [keys.load_public_key(pair.public_pem)]
    assert with_client(ctx, lambda c: verify_image(c, Reference.parse(ref), public))[0] == digest

    other = TransportContext(
        tls_verify=False, authfile=ctx.authfile, retry=ctx.retry, root=tmp_path / "other"
    )
    copy(f"docker://{ref}", f"berth:{ref}", other, _carrying(SIGSTORE_ON))
    assert _verify_stored(other, ref, pair)[0] == digest


def test_pull_without_sigstore_attachments_brings_none(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    ref = f"{registry}/st/plain:v1"
    make_layout(tmp_path / "layout", "v1", [{"f": b"plain"}])
    copy(f"oci:{tmp_path / 'layout'}:v1", f"docker://{ref}", ctx)
    key = keys.load_private_key(pair.private_pem, b"pw")
    with_client(ctx, lambda c: sign_image(c, Reference.parse(ref), key))
    copy(f"docker://{ref}", f"berth:{ref}", ctx, _carrying(SIGSTORE_OFF))
    with pytest.raises(SignatureError, match="no signature found"):
        _verify_stored(ctx, ref, pair)


def test_push_of_sigstore_signatures_needs_attachments_enabled(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    ref = f"{registry}/st/gated:v1"
    _into_store(tmp_path, ctx, ref, b"gated")
    _sign_stored(ctx, ref, pair)
    with pytest.raises(PolicyError, match="use-sigstore-attachments"):
        copy(f"berth:{ref}", f"docker://{ref}", ctx, _carrying(SIGSTORE_OFF))
    _assert_not_pushed(ctx, ref)
    copy(f"berth:{ref}", f"docker://{ref}", ctx, _carrying(SIGSTORE_OFF, remove=True))


def _assert_not_pushed(ctx: TransportContext, ref: str) -> None:
    async def get(client: object) -> None:
        repo = client.pull_repositories(Reference.parse(ref).name, by_digest=False)[0]  # type: ignore[attr-defined]
        await repo.get_manifest(Reference.parse(ref).tag)

    with pytest.raises(ManifestUnknown):
        with_client(ctx, get)  # type: ignore[arg-type]


def test_failed_signing_publishes_nothing(tmp_path: Path, registry: str, ctx: TransportContext) -> None:
    def failing(image: Reference, digest: Digest) -> StoredSignature:
        raise SignatureError("the signing key is gone")

    ref = f"{registry}/st/unsigned:v1"
    make_layout(tmp_path / "layout", "v1", [{"f": b"never"}])
    with pytest.raises(SignatureError, match="gone"):
        copy(f"oci:{tmp_path / 'layout'}:v1", f"docker://{ref}", ctx, _carrying(SIGSTORE_ON, failing))
    _assert_not_pushed(ctx, ref)
    with pytest.raises(SignatureError, match="gone"):
        copy(f"oci:{tmp_path / 'layout'}:v1", f"berth:{ref}", ctx, _carrying(SIGSTORE_ON, failing))
    store = _store(ctx)
    try:
        assert store.list() == []
    finally:
        store.close()


def test_sign_by_sigstore_on_copy_signs_before_publishing(
    tmp_path: Path, registry: str, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    ref = f"{registry}/st/signedcopy:v1"
    make_layout(tmp_path / "layout", "v1", [{"f": b"signed on copy"}])
    signer = sigstore_signer(keys.load_private_key(pair.private_pem, b"pw"))
    digest = copy(
        f"oci:{tmp_path / 'layout'}:v1", f"docker://{ref}", ctx, _carrying(SIGSTORE_ON, signer)
    ).manifest.digest
    public = [keys.load_public_key(pair.public_pem)]
    got, [payload] = with_client(ctx, lambda c: verify_image(c, Reference.parse(ref), public))
    assert (got, payload.docker_reference) == (digest, ref)


def test_gc_forgets_signatures_of_collected_manifests(
    tmp_path: Path, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    digest = _into_store(tmp_path, ctx, "localhost/st/gone:v1", b"gone")
    _sign_stored(ctx, "localhost/st/gone:v1", pair)
    store = _store(ctx)
    try:
        store.gc()
        assert len(signatures.of(store.content, digest)) == 1  # still named: kept
        store.delete("localhost/st/gone:v1")
        store.gc()
        assert signatures.of(store.content, digest) == []
    finally:
        store.close()


def test_cli_signs_and_verifies_a_store_image(
    tmp_path: Path, ctx: TransportContext, pair: keys.KeyPair
) -> None:
    import json
    import subprocess
    import sys

    digest = _into_store(tmp_path, ctx, "localhost/st/cli:v1", b"cli")
    (tmp_path / "k.private").write_bytes(pair.private_pem)
    (tmp_path / "k.pub").write_bytes(pair.public_pem)
    (tmp_path / "pw").write_text("pw\n")
    root = ["--root", str(ctx.root), "--runroot", str(tmp_path / "run")]

    def berth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *root, *args],
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip

    unsigned = berth("verify", "--key", str(tmp_path / "k.pub"), "st/cli:v1")
    assert unsigned.returncode != 0
    assert unsigned.stderr.count("\n") == 1 and "no signature found" in unsigned.stderr
    signed = berth(
        "sign", "--key", str(tmp_path / "k.private"), "--passphrase-file", str(tmp_path / "pw"), "st/cli:v1"
    )
    assert signed.returncode == 0, signed.stderr
    verified = berth("verify", "--key", str(tmp_path / "k.pub"), "berth:localhost/st/cli:v1")
    assert verified.returncode == 0, verified.stderr
    payload = json.loads(verified.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)
    assert payload["critical"]["identity"]["docker-reference"] == "localhost/st/cli:v1"
    missing = berth("verify", "--key", str(tmp_path / "k.pub"), "st/none:v1")
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
