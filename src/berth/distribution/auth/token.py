"""Registry bearer tokens (Docker registry token authentication): ES256 JSON Web Tokens.

The token server signs a JWT whose ``access`` claim lists the granted scopes; the registry checks the
signature with the public key, the issuer, the audience (its service name) and the time window.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.distribution.auth.access import Scope
from berth.errors import BerthError


class TokenInvalid(BerthError):
    """A bearer token is malformed, badly signed, expired, or meant for someone else."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: Any) -> str:
    """The libtrust-style key id of a public key (distribution reads it from the ``kid`` header)."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(digest[i : i + 4] for i in range(0, 48, 4))


def generate_key(path: str | os.PathLike[str]) -> None:
    """Write a new P-256 private key (PEM) for ES256 token signing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from berth.fsutil import atomic_write

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    atomic_write(path, pem, mode=0o600)


def load_private_key(path: str | os.PathLike[str]) -> Any:
    """Read a PEM P-256 private key."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def load_public_key(path: str | os.PathLike[str]) -> Any:
    """Read a PEM public key, an X.509 certificate's key, or a private key's public half."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = Path(path).read_bytes()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


@dataclass
class TokenIssuer:
    """Signs tokens for ``service`` as ``issuer``."""

    private_key: Any
    issuer: str
    service: str
    expiry: int = 300

    def issue(self, account: str | None, grants: list[Scope]) -> tuple[str, int]:
        """A signed token granting ``grants`` to ``account``; returns it with its lifetime."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": key_id(self.private_key.public_key())}
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": now + self.expiry,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [{"type": g.type, "name": g.name, "actions": list(g.actions)} for g in grants],
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # RFC 7518 section 3.4: the JWS signature is R and S as 32-byte big-endian integers.
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(signature)}", self.expiry


@dataclass
class TokenVerifier:
    """Checks tokens meant for ``service`` and signed by ``issuer``'s key."""

    public_key: Any
    issuer: str
    service: str

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; ``TokenInvalid`` naming the first problem found."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        parts = token.split(".")
        if len(parts) != 3:
            raise TokenInvalid("token is not a JWS compact serialization")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError:
            raise TokenInvalid("token is not valid base64url JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
            raise TokenInvalid("token is not signed with ES256")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self.public_key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise TokenInvalid("token signature does not verify") from None
        if not isinstance(claims, dict):
            raise TokenInvalid("token claims are not an object")
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token has the wrong issuer")
        audience = claims.get("aud")
        if audience != self.service and not (isinstance(audience, list) and self.service in audience):
            raise TokenInvalid("token is for another service")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now:
            raise TokenInvalid("token has expired")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + 60:
            raise TokenInvalid("token is not valid yet")
        return claims


def granted_scopes(claims: dict[str, Any]) -> list[Scope]:
    """The scopes a verified token's ``access`` claim grants."""
    grants = []
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and isinstance(entry.get("actions"), list):
            grants.append(
                Scope(str(entry.get("type")), str(entry.get("name")), tuple(map(str, entry["actions"])))
            )
    return grants
