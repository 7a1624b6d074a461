"""Sigstore signing judged by upstream skopeo (containers/image's policy engine, as podman's):
skopeo signs into Berth's registry and Berth verifies and pulls; Berth signs and skopeo accepts; after
tampering with the manifest or the identity both refuse; and the policy matrix of
``tests/integration/trust/test_trust_policy_matrix.py`` gives the same verdict from both in every cell.

Debian's skopeo refuses all sigstore work, so these run only when ``BERTH_UPSTREAM_SKOPEO`` names an
upstream build (docs/trust.md says how to make one)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.admission import policy_admission
from berth.trust.errors import PolicyRejected, SignatureError
from berth.trust.policy import parse_policy
from berth.trust.signing import sign_image, verify_image
from tests.integration.registry_client.images import make_layout
from tests.integration.trust import conftest as trust_fixtures
from tests.integration.trust import test_trust_policy_matrix as matrix

SKOPEO = os.environ.get("BERTH_UPSTREAM_SKOPEO", "")
pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not SKOPEO, reason="BERTH_UPSTREAM_SKOPEO does not name an upstream skopeo"),
]
registry, ctx, pair, other_pair = (trust_fixtures.registry, trust_fixtures.ctx, trust_fixtures.pair,
                                   trust_fixtures.other_pair)  # fmt: skip
images, key_files = matrix.images, matrix.key_files
SIGSTORE_ON = matrix.SIGSTORE_ON
ACCEPT_LOCAL = {"default": [{"type": "insecureAcceptAnything"}]}


@pytest.fixture(scope="module")
def registries_d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``default-docker: {use-sigstore-attachments: true}``, for skopeo."""
    directory = tmp_path_factory.mktemp("registries.d")
    (directory / "sigstore.yaml").write_text("default-docker:\n  use-sigstore-attachments: true\n")
    return directory


def skopeo(
    registries_d: Path, policy: dict[str, object], tmp: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run upstream skopeo with ``policy`` (a policy.json document) and ``registries_d``."""
    policy_file = tmp / f"policy-{os.urandom(4).hex()}.json"
    policy_file.write_text(json.dumps(policy))
    cmd = [SKOPEO, "--policy", str(policy_file), "--registries.d", str(registries_d), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)


def skopeo_accepts(registries_d: Path, policy: dict[str, object], tmp: Path, ref: str) -> bool:
    """Whether ``skopeo copy`` under ``policy`` takes ``ref``; any failure but the policy's fails the test."""
    out = tmp / f"out-{os.urandom(4).hex()}"
    done = skopeo(registries_d, policy, tmp, "copy", "--src-tls-verify=false", "--remove-signatures",
                  f"docker://{ref}", f"dir:{out}")  # fmt: skip
    if done.returncode != 0:
        assert "Source image rejected" in done.stderr, done.stderr
    return done.returncode == 0


def berth_accepts(policy: dict[str, object], ctx: TransportContext, tmp: Path, ref: str) -> bool:
    options = CopyOptions(
        admit=policy_admission(parse_policy(json.dumps(policy).encode()), None, SIGSTORE_ON)
    )
    try:
        copy(f"docker://{ref}", f"oci:{tmp / os.urandom(4).hex()}", ctx, options)
    except PolicyRejected:
        return False
    return True


def _push(tmp: Path, ctx: TransportContext, ref: str, content: bytes) -> None:
    layout = tmp / os.urandom(4).hex()
    make_layout(layout, "v1", [{"f": content}])
    copy(f"oci:{layout}:v1", f"docker://{ref}", ctx)


def _sigstore_policy(public: Path) -> dict[str, object]:
    return {"default": [{"type": "insecureAcceptAnything"}],
            "transports": {"docker": {"": [{"type": "sigstoreSigned", "keyPath": str(public)}]}}}  # fmt: skip


def _verify(ctx: TransportContext, ref: str, public: bytes) -> None:
    trust_fixtures.with_client(
        ctx, lambda c: verify_image(c, Reference.parse(ref), [keys.load_public_key(public)])
    )


@pytest.mark.parametrize("maker", ["berth key generate", "skopeo generate-sigstore-key"])
def test_skopeo_signs_berth_verifies_and_pulls(
    maker: str, tmp_path: Path, registry: str, ctx: TransportContext, registries_d: Path
) -> None:
    (tmp_path / "pass").write_text("hunter2\n")
    if maker.startswith("berth"):
        made = keys.generate(b"hunter2")
        (tmp_path / "k.private").write_bytes(made.private_pem)
        (tmp_path / "k.pub").write_bytes(made.public_pem)
    else:
        done = skopeo(registries_d, ACCEPT_LOCAL, tmp_path, "generate-sigstore-key", "--output-prefix",
                      str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "pass"))  # fmt: skip
        assert done.returncode == 0, done.stderr
    make_layout(tmp_path / "src", "v1", [{"f": maker.encode()}])
    ref = f"{registry}/sk/{maker.split()[0]}:v1"
    done = skopeo(registries_d, ACCEPT_LOCAL, tmp_path, "copy", "--dest-tls-verify=false",
                  "--sign-by-sigstore-private-key", str(tmp_path / "k.private"), "--sign-passphrase-file",
                  str(tmp_path / "pass"), f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    _verify(ctx, ref, (tmp_path / "k.pub").read_bytes())
    assert berth_accepts(_sigstore_policy(tmp_path / "k.pub"), ctx, tmp_path, ref)


def test_berth_signs_skopeo_accepts_and_both_refuse_tampering(
    tmp_path: Path, registry: str, ctx: TransportContext, registries_d: Path, pair: keys.KeyPair
) -> None:
    (tmp_path / "k.pub").write_bytes(pair.public_pem)
    policy = _sigstore_policy(tmp_path / "k.pub")
    key = keys.load_private_key(pair.private_pem, b"pw")
    ref = f"{registry}/sk/berth:v1"
    _push(tmp_path, ctx, ref, b"original")
    trust_fixtures.with_client(ctx, lambda c: sign_image(c, Reference.parse(ref), key))
    assert skopeo_accepts(registries_d, policy, tmp_path, ref)
    assert berth_accepts(policy, ctx, tmp_path, ref)
    # Identity: the same manifest and its signature under another repository name.
    moved = f"{registry}/sk/elsewhere:v1"
    _push(tmp_path, ctx, moved, b"original")
    digest = copy(f"docker://{ref}", f"oci:{tmp_path / 'tmp'}", ctx).manifest.digest
    sig_tag = f"{digest.algorithm}-{digest.encoded}.sig"
    copy(f"docker://{registry}/sk/berth:{sig_tag}", f"docker://{registry}/sk/elsewhere:{sig_tag}", ctx)
    assert not skopeo_accepts(registries_d, policy, tmp_path, moved)
    assert not berth_accepts(policy, ctx, tmp_path, moved)
    # Manifest: another image under the signed tag (the signature names the old digest).
    _push(tmp_path, ctx, ref, b"tampered")
    assert not skopeo_accepts(registries_d, policy, tmp_path, ref)
    assert not berth_accepts(policy, ctx, tmp_path, ref)
    with pytest.raises(SignatureError):
        _verify(ctx, ref, pair.public_pem)


@pytest.mark.parametrize("name", matrix.POLICY_NAMES)
def test_policy_matrix_verdicts_equal_skopeo(
    name: str, tmp_path: Path, ctx: TransportContext, registry: str, images: dict[str, str],
    key_files: tuple[str, str], pair: keys.KeyPair, registries_d: Path,
) -> None:  # fmt: skip
    key_data = base64.b64encode(pair.public_pem).decode()
    doc, _ = matrix.policies(registry, key_files[0], key_data, key_files[1])[name]
    for kind in matrix.KINDS:
        ref = images[kind]
        theirs = skopeo_accepts(registries_d, doc, tmp_path, ref)
        assert berth_accepts(doc, ctx, tmp_path, ref) == theirs, f"{name}, {kind}: skopeo says {theirs}"
