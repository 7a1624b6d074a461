"""A Docker-registry token server for tests: ES256 JWTs that docker-registry's token auth accepts.

It signs with a fresh P-256 key whose self-signed certificate is the registry's ``rootcertbundle``,
and puts that certificate in each token's ``x5c`` header (distribution's token.md). It grants what
was asked to ``alice`` (password ``s3cret``) and pull only to anonymous clients, and records every
request so tests can see the scopes and credentials that arrived.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import time
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.integration.registry_client.threaded_server import ThreadedServer

ISSUER = "berth-test-issuer"
SERVICE = "berth-test-registry"
USERS = {"alice": "s3cret"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer(ThreadedServer):
    """Serves ``GET /token`` on 127.0.0.1 from a thread; ``cert`` is the PEM file to trust."""

    def __init__(self, workdir: Path, lifetime: int = 300) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert = workdir / "token-cert.pem"
        self.cert.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self.lifetime = lifetime
        self.requests: list[tuple[str | None, list[str]]] = []
        super().__init__()
        self.realm = f"http://127.0.0.1:{self.port}/token"

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self.handle)
        return app

    def _user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if USERS.get(user) != password:
            raise web.HTTPUnauthorized()
        return user

    async def handle(self, request: web.Request) -> web.Response:
        user = self._user(request)
        scopes = request.query.getall("scope", [])
        self.requests.append((user, list(scopes)))
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = actions.split(",") if user else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        return web.json_response({"token": self._sign(user or "", access), "expires_in": self.lifetime})

    def _sign(self, subject: str, access: list[dict[str, object]]) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + self.lifetime, "nbf": now - 10,
            "iat": now, "jti": secrets.token_hex(8), "access": access,
        }  # fmt: skip
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
