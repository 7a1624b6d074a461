"""Registry authentication and authorization: htpasswd Basic, ES256 bearer tokens, access rules."""

from __future__ import annotations

from berth.distribution.auth.access import AccessPolicy, AccessRule, Scope
from berth.distribution.auth.authorizer import (
    AllowAll,
    AuthFailure,
    Authorizer,
    BasicAuthorizer,
    BasicCredentials,
    TokenAuthorizer,
)
from berth.distribution.auth.htpasswd import Htpasswd, hash_password
from berth.distribution.auth.token import TokenInvalid, TokenIssuer, TokenVerifier, generate_key

__all__ = [
    "AccessPolicy",
    "AccessRule",
    "AllowAll",
    "AuthFailure",
    "Authorizer",
    "BasicAuthorizer",
    "BasicCredentials",
    "Htpasswd",
    "Scope",
    "TokenAuthorizer",
    "TokenInvalid",
    "TokenIssuer",
    "TokenVerifier",
    "generate_key",
    "hash_password",
]
