"""GPG simple signing: Berth signs into lookaside-staging and ``signedBy`` verifies from lookaside,
with the tamper cases (unsigned, another key, a changed signature, another image's identity)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust.admission import policy_admission
from berth.trust.errors import PolicyRejected
from berth.trust.lookaside import write_lookaside
from berth.trust.policy import parse_policy
from berth.trust.registries_d import RegistriesD, load_registries_d, signature_url
from berth.trust.signing import simple_signer
from tests.integration.registry_client.images import make_layout
from tests.integration.trust.gpg_keys import GpgKey, gpg_key, lookaside_registries_d

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed"),
]


@pytest.fixture(scope="module")
def key() -> Iterator[GpgKey]:
    with gpg_key("Signer") as made:
        yield made


@pytest.fixture(scope="module")
def other_key() -> Iterator[GpgKey]:
    with gpg_key("Other") as made:
        yield made


@pytest.fixture
def registries_d(tmp_path: Path) -> Path:
    """A registries.d whose default lookaside (read and write) is a directory of the test's."""
    return lookaside_registries_d(tmp_path / "registries.d", tmp_path / "lookaside")


def _push(tmp_path: Path, ctx: TransportContext, ref: str, content: bytes) -> Digest:
    make_layout(tmp_path / "src", "v1", [{"f": content}])
    return copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}", ctx).manifest.digest


def _signed_by(key_field: dict[str, object], identity: dict[str, str] | None = None) -> bytes:
    req: dict[str, object] = {"type": "signedBy", "keyType": "GPGKeys", **key_field}
    if identity is not None:
        req["signedIdentity"] = identity
    return json.dumps({"default": [req]}).encode()


def _pull(ref: str, policy: bytes, registries: RegistriesD, ctx: TransportContext, out: Path) -> None:
    options = CopyOptions(admit=policy_admission(parse_policy(policy), None, registries))
    copy(f"docker://{ref}", f"oci:{out}", ctx, options)


def _sign(monkeypatch: pytest.MonkeyPatch, key: GpgKey, ref: str, digest: Digest, conf: RegistriesD) -> Path:
    monkeypatch.setenv("GNUPGHOME", str(key.home))
    image = Reference.parse(ref)
    blob = simple_signer(key.fingerprint)(image, digest).signature
    return write_lookaside(conf.lookaside_base(image, write=True), digest, blob)


def test_signed_by_accepts_berth_signatures_and_refuses_tampered_ones(
    tmp_path: Path, registry: str, ctx: TransportContext, registries_d: Path, key: GpgKey,
    other_key: GpgKey, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    conf = load_registries_d(registries_d)
    ref = f"{registry}/gpg/signed:v1"
    digest = _push(tmp_path, ctx, ref, b"signed")
    where = _sign(monkeypatch, key, ref, digest, conf)
    assert where == Path(signature_url(f"{tmp_path}/lookaside/gpg/signed", digest, 0).removeprefix("file://"))
    same = write_lookaside(conf.lookaside_base(Reference.parse(ref), write=True), digest, where.read_bytes())
    assert same == where  # the same signature is not stored twice
    public = key.public.read_bytes()
    for field in ({"keyPath": str(key.public)}, {"keyPaths": [str(other_key.public), str(key.public)]},
                  {"keyData": base64.b64encode(public).decode()}):  # fmt: skip
        _pull(ref, _signed_by(field), conf, ctx, tmp_path / "out")
    with pytest.raises(PolicyRejected, match="wrong key"):
        _pull(ref, _signed_by({"keyPath": str(other_key.public)}), conf, ctx, tmp_path / "out")
    with pytest.raises(PolicyRejected, match="identity mismatch"):
        _pull(ref, _signed_by({"keyPath": str(key.public)}, {"type": "exactReference",
              "dockerReference": f"{registry}/gpg/signed:v2"}), conf, ctx, tmp_path / "out")  # fmt: skip
    blob = where.read_bytes()
    where.write_bytes(blob[:-40] + bytes(b ^ 1 for b in blob[-40:]))
    with pytest.raises(PolicyRejected, match="signature"):
        _pull(ref, _signed_by({"keyPath": str(key.public)}), conf, ctx, tmp_path / "out")


def test_a_signature_of_another_image_does_not_count(
    tmp_path: Path, registry: str, ctx: TransportContext, registries_d: Path, key: GpgKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    conf = load_registries_d(registries_d)
    policy = _signed_by({"keyPath": str(key.public)})
    unsigned = f"{registry}/gpg/unsigned:v1"
    _push(tmp_path / "u", ctx, unsigned, b"unsigned")
    with pytest.raises(PolicyRejected, match="no signature exists"):
        _pull(unsigned, policy, conf, ctx, tmp_path / "out")
    # The same manifest under another name: its signature names the first repository.
    first, second = f"{registry}/gpg/first:v1", f"{registry}/gpg/second:v1"
    digest = _push(tmp_path / "a", ctx, first, b"same")
    _push(tmp_path / "b", ctx, second, b"same")
    signed = _sign(monkeypatch, key, first, digest, conf)
    moved = Path(signature_url(f"{tmp_path}/lookaside/gpg/second", digest, 0).removeprefix("file://"))
    moved.parent.mkdir(parents=True)
    shutil.copy(signed, moved)
    with pytest.raises(PolicyRejected, match="identity mismatch"):
        _pull(second, policy, conf, ctx, tmp_path / "out")


def test_cli_copy_sign_by_then_pull_under_signed_by(
    tmp_path: Path, registry: str, registries_d: Path, key: GpgKey
) -> None:
    make_layout(tmp_path / "src", "v1", [{"f": b"cli"}])
    ref = f"{registry}/gpg/cli:v1"
    policy = tmp_path / "policy.json"
    policy.write_bytes(_signed_by({"keyPath": str(key.public)}))
    env = {**os.environ, "GNUPGHOME": str(key.home)}
    root = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run")]

    def berth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *root, *args], env=env,
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip

    flags = ["--registries.d", str(registries_d), "--tls-verify=false"]
    pushed = berth(
        "copy", *flags, "--sign-by", key.fingerprint, f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}"
    )
    assert pushed.returncode == 0, pushed.stderr
    pulled = berth("pull", *flags, "--signature-policy", str(policy), ref)
    assert pulled.returncode == 0, pulled.stderr
    refused = berth(
        "copy", *flags, "--sign-by", "NOSUCHKEY", f"oci:{tmp_path / 'src'}:v1", f"oci:{tmp_path / 'x'}"
    )
    assert refused.returncode != 0
    assert (
        refused.stderr.strip()
        == f"berth: oci:{tmp_path / 'x'}: only docker://REFERENCE and berth:REFERENCE images can be signed"
    )
