"""Deciding whether a request may proceed: anonymous, htpasswd Basic, or bearer tokens.

Independent of the HTTP server: an authorizer gets the ``Authorization`` header and the scopes the
request needs, and returns the account name or raises ``AuthFailure`` with the status and the
``WWW-Authenticate`` challenge the registry must answer with (Docker registry token protocol).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import hashlib
import time

from berth.distribution.auth.access import AccessPolicy, Scope
from berth.distribution.auth.htpasswd import Htpasswd
from berth.distribution.auth.token import TokenInvalid, TokenVerifier, granted_scopes
from berth.errors import BerthError

#: How long a verified Basic credential is remembered, so bcrypt runs once per client, not per request.
_CREDENTIAL_CACHE_SECONDS = 300.0


class AuthFailure(BerthError):
    """The request is not allowed: 401 (who are you?) or 403 (you may not)."""

    def __init__(self, status: int, message: str, challenge: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.challenge = challenge


class Authorizer(abc.ABC):
    """Checks a request's credentials against the scopes it needs."""

    @abc.abstractmethod
    async def authorize(self, authorization: str | None, scopes: list[Scope], realm: str) -> str | None:
        """The account name (None: anonymous) if allowed; ``AuthFailure`` otherwise."""


class AllowAll(Authorizer):
    """No authentication: everyone may do everything (the default, as for a local registry)."""

    async def authorize(self, authorization: str | None, scopes: list[Scope], realm: str) -> str | None:
        return None


class BasicCredentials:
    """Verifies ``Authorization: Basic`` against an htpasswd file, with a short-lived cache."""

    def __init__(self, htpasswd: Htpasswd) -> None:
        self.htpasswd = htpasswd
        self._verified: dict[bytes, float] = {}

    async def account(self, authorization: str | None) -> str | None:
        """The user named by valid Basic credentials; None if absent; ``AuthFailure`` if wrong."""
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            user, sep, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthFailure(401, "malformed Basic credentials") from None
        if not sep:
            raise AuthFailure(401, "malformed Basic credentials")
        return await self.verify(user, password)

    async def verify(self, user: str, password: str) -> str:
        """``user`` if ``password`` is theirs; ``AuthFailure`` (401) otherwise."""
        key = hashlib.sha256(f"{user}\x00{password}".encode()).digest()
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return user
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.htpasswd.verify, user, password):
            raise AuthFailure(401, f"invalid username or password for {user!r}")
        self._verified[key] = now + _CREDENTIAL_CACHE_SECONDS
        return user


class BasicAuthorizer(Authorizer):
    """htpasswd users, rights from the access policy."""

    def __init__(self, credentials: BasicCredentials, policy: AccessPolicy) -> None:
        self.credentials = credentials
        self.policy = policy

    async def authorize(self, authorization: str | None, scopes: list[Scope], realm: str) -> str | None:
        challenge = f'Basic realm="{realm}"'
        try:
            account = await self.credentials.account(authorization)
        except AuthFailure as err:
            raise AuthFailure(401, str(err), challenge) from None
        if account is None and not scopes:
            # The API version check is where clients learn that they must log in.
            raise AuthFailure(401, "authentication required", challenge)
        for scope in scopes:
            if not self.policy.allows(account, scope):
                if account is None:
                    raise AuthFailure(401, "authentication required", challenge)
                raise AuthFailure(403, f"{account} may not {','.join(scope.actions)} {scope.name}")
        return account


class TokenAuthorizer(Authorizer):
    """Bearer tokens from a token server (Berth's own or another) naming the granted scopes."""

    def __init__(self, verifier: TokenVerifier, realm: str | None = None) -> None:
        self.verifier = verifier
        self.realm = realm

    def challenge(self, realm: str, scopes: list[Scope], error: str | None = None) -> str:
        """``WWW-Authenticate: Bearer realm=...,service=...,scope=...[,error=...]``."""
        parts = [f'realm="{self.realm or realm}"', f'service="{self.verifier.service}"']
        if scopes:
            parts.append(f'scope="{" ".join(str(s) for s in scopes)}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    async def authorize(self, authorization: str | None, scopes: list[Scope], realm: str) -> str | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthFailure(401, "authentication required", self.challenge(realm, scopes))
        try:
            claims = self.verifier.verify(authorization[7:].strip())
        except TokenInvalid as err:
            raise AuthFailure(401, str(err), self.challenge(realm, scopes, "invalid_token")) from None
        grants = granted_scopes(claims)
        for scope in scopes:
            have: set[str] = set()
            for grant in grants:
                if grant.type == scope.type and grant.name == scope.name:
                    have |= set(grant.actions)
            if not ("*" in have or set(scope.actions) <= have):
                # Docker token protocol: a token that lacks a scope gets a 401 naming the scope needed.
                raise AuthFailure(
                    401,
                    f"token does not grant {scope}",
                    self.challenge(realm, scopes, "insufficient_scope"),
                )
        account = claims.get("sub")
        return str(account) if account else None
