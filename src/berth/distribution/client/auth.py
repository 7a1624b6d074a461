"""Authorization for registry requests: anonymous, Basic, and Bearer tokens.

Bearer tokens follow the Docker registry token protocol (distribution's docs/spec/auth/token.md): a
401 carries ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; the client GETs the realm
with ``service`` and one ``scope`` parameter per scope (``repository:NAME:pull,push``), sending its
Basic credentials if it has any, and receives ``{"token": ..., "expires_in": ...}``. Credentials
holding an OAuth2 refresh token (``identitytoken``) POST ``grant_type=refresh_token`` to the realm
instead (token.md's oauth flow). Tokens are cached per realm, service, user and scope set.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from berth.distribution.client.challenge import Challenge, parse_challenges
from berth.distribution.client.errors import RegistryError, Unauthorized, error_detail
from berth.distribution.credentials import Credentials

if TYPE_CHECKING:
    import aiohttp

#: token.md: "If no expires_in is given, a default of 60 seconds should be assumed."
_DEFAULT_TOKEN_LIFETIME = 60
#: Refresh this many seconds before expiry so a token never expires in flight.
_EXPIRY_MARGIN = 10
_CLIENT_ID = "berth"


def basic_header(creds: Credentials) -> str:
    """The ``Authorization`` value for HTTP Basic (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


def scope_for(repository: str, actions: Iterable[str]) -> str:
    """A token scope (token.md#requesting-a-token): ``repository:library/busybox:pull,push``."""
    return f"repository:{repository}:{','.join(sorted(set(actions)))}"


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass
class Authenticator:
    """Authorization state for one registry host, shared by every repository on it."""

    host: str
    challenge: Challenge | None = None
    _tokens: dict[tuple[str, str, str, tuple[str, ...]], _Token] = field(default_factory=dict)
    _fetching: asyncio.Lock = field(default_factory=asyncio.Lock)

    def learn(self, www_authenticate: str | None) -> Challenge | None:
        """Remember the challenge from a 401 (Bearer with a realm preferred over Basic); return it."""
        found = parse_challenges(www_authenticate or "")
        usable = [ch for ch in found if ch.scheme == "bearer" and ch.params.get("realm")]
        usable += [ch for ch in found if ch.scheme == "basic"]
        if usable:
            self.challenge = usable[0]
        return usable[0] if usable else None

    def _key(
        self, creds: Credentials | None, scopes: tuple[str, ...]
    ) -> tuple[str, str, str, tuple[str, ...]]:
        ch = self.challenge
        assert ch is not None
        user = creds.username if creds else ""
        return (ch.params.get("realm", ""), ch.params.get("service", ""), user, scopes)

    def cached_header(self, creds: Credentials | None, scopes: tuple[str, ...]) -> str | None:
        """The ``Authorization`` value to send now without any round trip, if one is known."""
        ch = self.challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return basic_header(creds) if creds else None
        token = self._tokens.get(self._key(creds, scopes))
        if token is not None and token.expires_at > time.monotonic():
            return f"Bearer {token.value}"
        return None

    def forget(self, creds: Credentials | None, scopes: tuple[str, ...]) -> None:
        """Drop a cached token the registry refused, so the next request fetches a new one."""
        if self.challenge is not None and self.challenge.scheme == "bearer":
            self._tokens.pop(self._key(creds, scopes), None)

    async def header(
        self, session: aiohttp.ClientSession, creds: Credentials | None, scopes: tuple[str, ...], ssl: object
    ) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``, fetching a token if needed."""
        cached = self.cached_header(creds, scopes)
        if cached is not None or self.challenge is None:
            return cached
        if self.challenge.scheme == "basic":
            raise Unauthorized(f"{self.host}: authentication required; log in with 'berth login {self.host}'")
        async with self._fetching:  # parallel requests wait for one token instead of each fetching
            cached = self.cached_header(creds, scopes)
            if cached is not None:
                return cached
            token = await self._fetch_token(session, creds, scopes, ssl)
            self._tokens[self._key(creds, scopes)] = token
        return f"Bearer {token.value}"

    async def _fetch_token(
        self, session: aiohttp.ClientSession, creds: Credentials | None, scopes: tuple[str, ...], ssl: object
    ) -> _Token:
        import aiohttp

        assert self.challenge is not None
        params = self.challenge.params
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: Bearer challenge without a realm")
        service = params.get("service", "")
        all_scopes = list(scopes)
        for extra in params.get("scope", "").split(" "):
            if extra and extra not in all_scopes:
                all_scopes.append(extra)
        try:
            if creds is not None and creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "service": service,
                    "client_id": _CLIENT_ID,
                    "scope": " ".join(all_scopes),
                }
                resp_cm = session.post(realm, data=form, ssl=ssl)  # type: ignore[arg-type]
            else:
                query: list[tuple[str, str]] = [("service", service)] if service else []
                query += [("scope", s) for s in all_scopes]
                if creds is None:
                    query.append(("client_id", _CLIENT_ID))
                headers = {"Authorization": basic_header(creds)} if creds else {}
                resp_cm = session.get(realm, params=query, headers=headers, ssl=ssl)  # type: ignore[arg-type]
            async with resp_cm as resp:
                body = await resp.read()
                status = resp.status
        except aiohttp.ClientError as err:
            raise RegistryError(f"{self.host}: cannot reach token server {realm}: {err}") from None
        if status in (401, 403):
            who = f"as {creds.username!r}" if creds else "anonymously"
            raise Unauthorized(f"{self.host}: token server refused credentials {who} (HTTP {status})")
        if status != 200:
            raise RegistryError(f"{self.host}: token server answered HTTP {status}: {error_detail(body)}")
        return _parse_token(body, self.host)


def _parse_token(body: bytes, host: str) -> _Token:
    import json

    try:
        doc = json.loads(body)
        value = doc.get("token") or doc.get("access_token")
        lifetime = int(doc.get("expires_in") or _DEFAULT_TOKEN_LIFETIME)
    except (ValueError, AttributeError, TypeError):
        raise RegistryError(f"{host}: token server sent a malformed response") from None
    if not isinstance(value, str) or not value:
        raise RegistryError(f"{host}: token server response has no token")
    lifetime = max(lifetime, _EXPIRY_MARGIN * 2)
    return _Token(value, time.monotonic() + lifetime - _EXPIRY_MARGIN)
