"""One registry host: base URL discovery (``GET /v2/``), authorization, retries and backoff.

distribution-spec spec.md#determining-support: ``GET /v2/`` answers 200 (or 401 with a challenge)
on a conformant registry. An insecure registry (``--tls-verify=false`` or ``insecure = true`` in
registries.conf) is tried over HTTPS without certificate checks first, then over plain HTTP, as
podman and skopeo do.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from berth.distribution.client.auth import Authenticator
from berth.distribution.client.errors import RegistryError, Unauthorized, error_detail
from berth.distribution.credentials import Credentials

if TYPE_CHECKING:
    import aiohttp

#: Docker Hub's references say docker.io; its API lives elsewhere.
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
#: Statuses worth another try: throttling and server-side failures.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``attempts`` tries, the n-th wait ``base * 2**n`` (at most ``cap``)."""

    attempts: int = 4
    base: float = 0.2
    cap: float = 3.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return float(min(self.cap, self.base * 2**attempt))


@dataclass
class Response:
    """A fully read response."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


def connection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning the connection failed or dropped (worth a retry)."""
    import aiohttp

    return (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class Registry:
    """A registry host as the client sees it; shared by every repository on that host."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        *,
        insecure: bool = False,
        retry: RetryPolicy | None = None,
        tls: _ssl.SSLContext | None = None,
    ) -> None:
        self.session = session
        self.tls = tls
        self.host = host
        self.api_host = DOCKER_HUB_API if host == DOCKER_HUB else host
        self.insecure = insecure
        self.retry = retry or RetryPolicy()
        self.auth = Authenticator(host)
        self.base_url: str | None = None
        #: ``X-Registry-Supports-Signatures: 1`` on ``GET /v2/``: it serves simple signatures itself.
        self.supports_signatures = False
        self._ping_lock = asyncio.Lock()

    @property
    def ssl(self) -> _ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` gets: False skips certificate checks on insecure registries; a
        context carries the host's own CAs and client certificate (certs.d)."""
        if self.insecure:
            return False
        return self.tls if self.tls is not None else True

    async def ping(self) -> None:
        """Find the base URL and learn the auth challenge (once per host)."""
        async with self._ping_lock:
            if self.base_url is not None:
                return
            schemes = ("https", "http") if self.insecure else ("https",)
            last: BaseException | None = None
            for scheme in schemes:
                url = f"{scheme}://{self.api_host}/v2/"
                try:
                    resp = await self._with_retries("GET", url, {}, None, None)
                except connection_errors() as err:
                    last = err
                    continue
                if resp.status == 401:
                    self.auth.learn(resp.headers.get("WWW-Authenticate"))
                elif resp.status != 200:
                    raise RegistryError(
                        f"{self.host} is not an OCI registry: GET /v2/ answered HTTP {resp.status}"
                    )
                self.supports_signatures = resp.headers.get("X-Registry-Supports-Signatures") == "1"
                self.base_url = f"{scheme}://{self.api_host}"
                return
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in str(last):
                hint = " (trust its CA with --cert-dir, or use --tls-verify=false)"
            elif not self.insecure and "SSL" in str(last):  # e.g. WRONG_VERSION_NUMBER: it speaks HTTP
                hint = " (use --tls-verify=false for an HTTP registry)"
            raise RegistryError(f"cannot reach registry {self.host}: {_describe(last)}{hint}")

    async def check_login(self, creds: Credentials | None) -> None:
        """Verify ``creds`` against ``GET /v2/`` (token auth: the token server accepts them)."""
        await self.ping()
        if self.auth.challenge is None:
            return
        await self.request("GET", "/v2/", creds=creds, scopes=(), expect=(200,))

    def url(self, path: str) -> str:
        """Absolute URL for an API path or a (possibly relative) ``Location`` header."""
        import yarl

        assert self.base_url is not None
        return str(yarl.URL(self.base_url).join(yarl.URL(path)))

    async def request(
        self,
        method: str,
        path: str,
        *,
        creds: Credentials | None,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        data: bytes | None = None,
        expect: Sequence[int] = (200,),
        what: str = "",
    ) -> Response:
        """Send a request with authorization and retries; read the body; check the status.

        A 401 with a previously accepted token refetches the token once (it may have expired).
        Statuses outside ``expect`` raise: 401/403 ``Unauthorized``, others ``RegistryError``.
        """
        resp = await self.send(
            method, path, creds=creds, scopes=scopes, headers=headers, params=params, data=data
        )
        if resp.status not in expect:
            raise self.error(resp, what or f"{method} {path}", creds)
        return resp

    async def send(
        self,
        method: str,
        path: str,
        *,
        creds: Credentials | None,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """Like ``request`` but returns any status to the caller."""
        await self.ping()
        url = self.url(path)
        for attempt in range(2):
            hdrs = dict(headers or {})
            auth = await self.auth.header(self.session, creds, scopes, self.ssl)
            if auth:
                hdrs["Authorization"] = auth
            resp = await self._with_retries(method, url, hdrs, params, data)
            if resp.status != 401 or attempt == 1:
                return resp
            # A refused token may just have expired; a first 401 may carry a new challenge.
            self.auth.forget(creds, scopes)
            had_challenge = self.auth.challenge is not None and auth is not None
            self.auth.learn(resp.headers.get("WWW-Authenticate"))
            if self.auth.challenge is None or (had_challenge and self.auth.challenge.scheme == "basic"):
                return resp
        raise AssertionError("unreachable")

    async def open_stream(
        self,
        path: str,
        *,
        creds: Credentials | None,
        scopes: tuple[str, ...],
        headers: Mapping[str, str],
    ) -> aiohttp.ClientResponse:
        """GET ``path`` and return the response unread (the caller must ``release()`` it)."""
        await self.ping()
        hdrs = dict(headers)
        auth = await self.auth.header(self.session, creds, scopes, self.ssl)
        if auth:
            hdrs["Authorization"] = auth
        resp = await self.session.get(self.url(path), headers=hdrs, ssl=self.ssl)
        if resp.status == 401:
            resp.release()
            self.auth.forget(creds, scopes)
            self.auth.learn(resp.headers.get("WWW-Authenticate"))
            auth = await self.auth.header(self.session, creds, scopes, self.ssl)
            if auth:
                hdrs["Authorization"] = auth
            resp = await self.session.get(self.url(path), headers=hdrs, ssl=self.ssl)
        return resp

    async def _with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Sequence[tuple[str, str]] | None,
        data: bytes | None,
    ) -> Response:
        """One logical request: retried on connection errors and retryable statuses, with backoff."""
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                async with self.session.request(
                    method, url, headers=headers, params=params, data=data, ssl=self.ssl, allow_redirects=True
                ) as raw:
                    body = await raw.read()
                    resp = Response(raw.status, raw.headers, body, str(raw.url))
            except connection_errors():
                if last or (url.startswith("https://") and self.base_url is None and self.insecure):
                    raise  # an insecure host's HTTPS probe falls back to HTTP at once
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if resp.status in RETRYABLE_STATUS and not last:
                await asyncio.sleep(_retry_after(resp.headers) or self.retry.delay(attempt))
                continue
            return resp
        raise AssertionError("unreachable")

    def error(
        self, resp: Response | aiohttp.ClientResponse, what: str, creds: Credentials | None
    ) -> RegistryError:
        """The error for an unexpected status, as one line."""
        body = resp.body if isinstance(resp, Response) else b""
        detail = error_detail(body)
        suffix = f": {detail}" if detail else ""
        if resp.status == 401:
            if creds is None:
                return Unauthorized(
                    f"{self.host}: authentication required for {what}; log in with 'berth login {self.host}'"
                )
            return Unauthorized(f"{self.host}: credentials for {creds.username!r} were rejected (HTTP 401)")
        if resp.status == 403:
            return Unauthorized(f"{self.host}: access denied to {what} (HTTP 403){suffix}")
        return RegistryError(f"{self.host}: {what} failed with HTTP {resp.status}{suffix}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    return min(float(value), 5.0) if value.isdigit() else None


def _describe(err: BaseException | None) -> str:
    if err is None:
        return "no answer"
    text = str(err) or type(err).__name__
    return text.splitlines()[0]
