"""sigstore/cosign key files: generate, read back, and refuse bad ones with one line."""

from __future__ import annotations

import base64
import json

import pytest

from berth.trust import keys
from berth.trust.errors import BadKey


@pytest.fixture(scope="module")
def pair() -> keys.KeyPair:
    return keys.generate(b"secret")


def _body(private_pem: bytes) -> dict[str, object]:
    return json.loads(keys.pem_decode(private_pem, "k")[1])  # type: ignore[no-any-return]


def _with_body(doc: object, kind: str = keys.SIGSTORE_PRIVATE_PEM) -> bytes:
    return keys.pem_encode(kind, json.dumps(doc).encode())


def test_generated_pair_signs_and_verifies(pair: keys.KeyPair) -> None:
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert pair.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    private = keys.load_private_key(pair.private_pem, b"secret")
    public = keys.load_public_key(pair.public_pem)
    signature = keys.sign(private, b"payload")
    assert keys.verify(public, signature, b"payload")
    assert not keys.verify(public, signature, b"other payload")


def test_body_has_the_sigstore_fields(pair: keys.KeyPair) -> None:
    doc = _body(pair.private_pem)
    assert doc["kdf"] == {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1},
                          "salt": doc["kdf"]["salt"]}  # type: ignore[index]  # fmt: skip
    assert doc["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24  # type: ignore[index]
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32  # type: ignore[index]


def test_cosign_pem_type_is_read(pair: keys.KeyPair) -> None:
    cosign = _with_body(_body(pair.private_pem), keys.COSIGN_PRIVATE_PEM)
    keys.load_private_key(cosign, b"secret")


@pytest.mark.parametrize("n", keys.SCRYPT_N_ALLOWED)
def test_every_allowed_scrypt_cost_opens(n: int) -> None:
    assert keys.decrypt(keys.encrypt(b"der", b"pw", n), b"pw") == b"der"


def test_wrong_passphrase(pair: keys.KeyPair) -> None:
    with pytest.raises(BadKey, match="wrong passphrase"):
        keys.load_private_key(pair.private_pem, b"not it")


@pytest.mark.parametrize(
    "params",
    [{"N": 16384, "r": 8, "p": 1}, {"N": 32768, "r": 1, "p": 1}, {"N": 1 << 20, "r": 8, "p": 1},
     {"N": 32768, "r": 8, "p": 2}],
)  # fmt: skip
def test_scrypt_parameters_outside_the_set(pair: keys.KeyPair, params: dict[str, int]) -> None:
    doc = _body(pair.private_pem)
    doc["kdf"]["params"] = params  # type: ignore[index]
    with pytest.raises(BadKey, match=r"scrypt parameters .* are not allowed"):
        keys.load_private_key(_with_body(doc), b"secret")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a PEM file"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is not 'ENCRYPTED SIGSTORE"),
        (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n!!\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----",
         "not valid base64"),
        (keys.pem_encode(keys.SIGSTORE_PRIVATE_PEM, b"{not json"), "not JSON"),
        (_with_body({"kdf": {"name": "pbkdf2"}}), "unsupported key derivation"),
        (_with_body({"kdf": {"name": "scrypt"}, "cipher": {"name": "aes"}}), "unsupported cipher"),
        (_with_body([1, 2]), "no valid 'kdf.name'"),
    ],
)  # fmt: skip
def test_corrupt_private_keys(data: bytes, message: str) -> None:
    with pytest.raises(BadKey, match=message):
        keys.load_private_key(data, b"secret")


def test_truncated_ciphertext(pair: keys.KeyPair) -> None:
    doc = _body(pair.private_pem)
    doc["ciphertext"] = doc["ciphertext"][:20]  # type: ignore[index]
    with pytest.raises(BadKey):
        keys.load_private_key(_with_body(doc), b"secret")


def test_public_key_errors(pair: keys.KeyPair) -> None:
    with pytest.raises(BadKey, match="PEM type"):
        keys.load_public_key(pair.private_pem)
    with pytest.raises(BadKey, match="not a PKIX public key"):
        keys.load_public_key(keys.pem_encode(keys.PUBLIC_PEM, b"\x30\x03junk"))
