"""Signing keys in the sigstore/cosign format.

The private key is a PEM block of type ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign's older
``ENCRYPTED COSIGN PRIVATE KEY`` is read too) whose body is a JSON document: a PKCS#8 private key
sealed in a NaCl secretbox (XSalsa20-Poly1305) under a key that scrypt derives from the passphrase::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": BASE64},
     "cipher": {"name": "nacl/secretbox", "nonce": BASE64}, "ciphertext": BASE64}

(sigstore pkg/cryptoutils, over go-securesystemslib's ``encrypted`` package.) The public key is a
PKIX ``PUBLIC KEY`` PEM. Only the scrypt parameter sets those tools write are accepted when
reading, so a hostile key file cannot make Berth spend unbounded memory or time.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from berth.trust.errors import BadKey

SIGSTORE_PRIVATE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PRIVATE_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
PUBLIC_PEM = "PUBLIC KEY"

#: go-securesystemslib encrypted: the legacy (what cosign writes), standard and OWASP scrypt costs.
SCRYPT_N_ALLOWED = (32768, 65536, 131072)
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_SIZE = 32
_NONCE_SIZE = 24
_BOX_KEY_SIZE = 32

PrivateKey = Any  # cryptography's EC, RSA or Ed25519 private key (typed loosely: lazy imports)
PublicKey = Any


@dataclass(frozen=True)
class KeyPair:
    """A freshly generated key pair, both halves PEM-encoded."""

    private_pem: bytes
    public_pem: bytes


def pem_encode(kind: str, der: bytes) -> bytes:
    """A PEM block (RFC 7468) of type ``kind`` around ``der``."""
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {kind}-----".encode(), *lines, f"-----END {kind}-----".encode(), b""])


def pem_decode(data: bytes, what: str) -> tuple[str, bytes]:
    """The type and body of the first PEM block in ``data``."""
    text = data.decode("ascii", "replace")
    begin = text.find("-----BEGIN ")
    head_end = text.find("-----", begin + 11) if begin >= 0 else -1
    if begin < 0 or head_end < 0:
        raise BadKey(f"{what}: not a PEM file")
    kind = text[begin + 11 : head_end]
    end = text.find(f"-----END {kind}-----", head_end)
    if end < 0:
        raise BadKey(f"{what}: PEM block {kind!r} has no end line")
    try:
        return kind, base64.b64decode("".join(text[head_end + 5 : end].split()), validate=True)
    except binascii.Error:
        raise BadKey(f"{what}: PEM block {kind!r} is not valid base64") from None


def _scrypt(passphrase: bytes, salt: bytes, n: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=_BOX_KEY_SIZE, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def encrypt(plaintext: bytes, passphrase: bytes, n: int = SCRYPT_N_ALLOWED[0]) -> bytes:
    """Seal ``plaintext`` under ``passphrase``: the JSON body of an encrypted sigstore key."""
    from nacl.secret import SecretBox

    salt, nonce = os.urandom(_SALT_SIZE), os.urandom(_NONCE_SIZE)
    sealed = SecretBox(_scrypt(passphrase, salt, n)).encrypt(plaintext, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": SCRYPT_R, "p": SCRYPT_P}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _field(doc: Any, path: str, kind: type, what: str) -> Any:
    value = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadKey(f"{what}: encrypted key has no valid {path!r}")
    return value


def _b64_field(doc: Any, path: str, size: int | None, what: str) -> bytes:
    try:
        value = base64.b64decode(_field(doc, path, str, what), validate=True)
    except binascii.Error:
        raise BadKey(f"{what}: encrypted key's {path!r} is not base64") from None
    if size is not None and len(value) != size:
        raise BadKey(f"{what}: encrypted key's {path!r} has {len(value)} bytes, expected {size}")
    return value


def decrypt(body: bytes, passphrase: bytes, what: str = "private key") -> bytes:
    """Open the JSON body of an encrypted sigstore key with ``passphrase``."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        doc = json.loads(body)
    except ValueError:
        raise BadKey(f"{what}: encrypted key is not JSON") from None
    if _field(doc, "kdf.name", str, what) != "scrypt":
        raise BadKey(f"{what}: unsupported key derivation {doc['kdf']['name']!r} (want scrypt)")
    if _field(doc, "cipher.name", str, what) != "nacl/secretbox":
        raise BadKey(f"{what}: unsupported cipher {doc['cipher']['name']!r} (want nacl/secretbox)")
    n, r, p = (_field(doc, f"kdf.params.{k}", int, what) for k in ("N", "r", "p"))
    if n not in SCRYPT_N_ALLOWED or r != SCRYPT_R or p != SCRYPT_P:
        raise BadKey(
            f"{what}: scrypt parameters N={n} r={r} p={p} are not allowed "
            f"(N one of {', '.join(map(str, SCRYPT_N_ALLOWED))}, r {SCRYPT_R}, p {SCRYPT_P})"
        )
    salt = _b64_field(doc, "kdf.salt", None, what)
    nonce = _b64_field(doc, "cipher.nonce", _NONCE_SIZE, what)
    sealed = _b64_field(doc, "ciphertext", None, what)
    try:
        return SecretBox(_scrypt(passphrase, salt, n)).decrypt(sealed, nonce)
    except CryptoError:
        raise BadKey(f"{what}: wrong passphrase (or the key is corrupt)") from None


def generate(passphrase: bytes) -> KeyPair:
    """A new ECDSA P-256 key pair, the private half encrypted under ``passphrase`` (as cosign's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(pem_encode(SIGSTORE_PRIVATE_PEM, encrypt(der, passphrase)), public)


def load_private_key(data: bytes, passphrase: bytes, what: str = "private key") -> PrivateKey:
    """The private key in an encrypted sigstore or cosign PEM, opened with ``passphrase``."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    kind, body = pem_decode(data, what)
    if kind not in (SIGSTORE_PRIVATE_PEM, COSIGN_PRIVATE_PEM):
        raise BadKey(f"{what}: PEM type {kind!r} is not {SIGSTORE_PRIVATE_PEM!r} or {COSIGN_PRIVATE_PEM!r}")
    der = decrypt(body, passphrase, what)
    try:
        key = load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise BadKey(f"{what}: the decrypted key is not a PKCS#8 private key") from None
    _check_kind(key, what)
    return key


def load_public_key(data: bytes, what: str = "public key") -> PublicKey:
    """The key in a PKIX ``PUBLIC KEY`` PEM."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    kind, der = pem_decode(data, what)
    if kind != PUBLIC_PEM:
        raise BadKey(f"{what}: PEM type {kind!r} is not {PUBLIC_PEM!r}")
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        raise BadKey(f"{what}: not a PKIX public key") from None
    _check_kind(key, what)
    return key


def _check_kind(key: Any, what: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    kinds = (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey, rsa.RSAPrivateKey, rsa.RSAPublicKey,
             ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)  # fmt: skip
    if not isinstance(key, kinds):
        raise BadKey(f"{what}: unsupported key type {type(key).__name__} (ECDSA, RSA or Ed25519)")


def sign(key: PrivateKey, payload: bytes) -> bytes:
    """A signature over ``payload`` as sigstore makes it: ECDSA (ASN.1 DER) and RSA PKCS#1 v1.5
    over SHA-256, Ed25519 over the payload itself."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(payload, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    return bytes(key.sign(payload))


def verify(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    """Whether ``signature`` over ``payload`` was made by ``key``'s private half (see ``sign``)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True
