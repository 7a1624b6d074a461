"""The registry server's settings, from flags and an optional TOML or JSON file.

Example ``registry.toml``::

    allow_sparse = false          # accept manifests naming blobs the repository lacks
    upload_max_age = 86400        # seconds before an abandoned upload is cleaned up
    htpasswd = "/etc/berth/htpasswd"

    [token]                       # bearer tokens (Docker registry token protocol)
    service = "berth-registry"
    issuer = "berth"
    key = "/etc/berth/token-key.pem"   # private key: Berth issues tokens itself at /token
    # public_key = "..."               # or: only verify tokens of another token server
    # realm = "https://auth.example/token"
    expiry = 300

    [[access]]
    account = "alice"
    repository = "*"
    actions = ["pull", "push", "delete"]
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument


@dataclass
class TokenConfig:
    """Bearer-token settings."""

    service: str = "berth-registry"
    issuer: str = "berth"
    key: Path | None = None
    public_key: Path | None = None
    realm: str | None = None
    expiry: int = 300


@dataclass
class RegistryConfig:
    """Everything ``berth registry serve`` needs."""

    root: Path
    addr: str = "127.0.0.1:5000"
    allow_sparse: bool = False
    upload_max_age: float = 24 * 3600.0
    htpasswd: Path | None = None
    token: TokenConfig | None = None
    access: list[dict[str, Any]] = field(default_factory=list)
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        """``addr`` split into host and port."""
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"invalid address {self.addr!r}: want HOST:PORT")
        return host.strip("[]") or "0.0.0.0", int(port)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or JSON config file into a dict."""
    text = Path(path).read_bytes()
    try:
        data = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"cannot parse {path}: {err}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: the top level must be a table")
    return data


def build_config(root: str | os.PathLike[str], file_values: dict[str, Any], **flags: Any) -> RegistryConfig:
    """Merge a config file's values with command-line flags (flags win when given)."""
    values = {k: v for k, v in file_values.items() if k != "token"}
    values.update({k: v for k, v in flags.items() if v is not None})
    known = set(RegistryConfig.__dataclass_fields__) - {"root", "token"}
    unknown = set(values) - known
    if unknown:
        raise InvalidArgument(f"unknown registry settings: {', '.join(sorted(unknown))}")
    for key in ("htpasswd", "tls_cert", "tls_key"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    config = RegistryConfig(root=Path(root), **values)
    token = file_values.get("token")
    if token is not None:
        if not isinstance(token, dict):
            raise InvalidArgument("token must be a table")
        extra = set(token) - set(TokenConfig.__dataclass_fields__)
        if extra:
            raise InvalidArgument(f"unknown token settings: {', '.join(sorted(extra))}")
        for key in ("key", "public_key"):
            if token.get(key) is not None:
                token = {**token, key: Path(token[key])}
        config.token = TokenConfig(**token)
        if config.token.key is None and config.token.public_key is None:
            raise InvalidArgument("token needs key (to issue tokens) or public_key (to verify them)")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InvalidArgument("--tls-cert and --tls-key go together")
    return config
