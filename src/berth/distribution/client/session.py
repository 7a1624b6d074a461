"""``RegistryClient``: one HTTP session, the registries it has talked to, and where credentials come from.

async with RegistryClient(tls_verify=False) as client:
    repo = client.repository("127.0.0.1:5000", "library/busybox")
    manifest = await repo.get_manifest("latest")
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from berth import __version__
from berth.distribution import credentials as creds_mod
from berth.distribution.client.registry import Registry, RetryPolicy
from berth.distribution.client.repository import Repository
from berth.distribution.client.tls import cert_dir_for, tls_context
from berth.distribution.credentials import Credentials
from berth.distribution.registries_conf import Endpoint, RegistriesConf

if TYPE_CHECKING:
    import aiohttp

#: Connections per host; blobs are fetched in parallel up to the copier's own bound.
_CONNECTIONS_PER_HOST = 8


class RegistryClient:
    """Talks to registries; an async context manager owning one ``aiohttp`` session.

    ``tls_verify=None`` lets registries.conf decide which hosts are insecure; ``False`` makes every
    host insecure (HTTP, or HTTPS without certificate checks); ``True`` makes every host verified.
    ``credentials`` overrides the auth files (``--creds``); ``cert_dir`` holds CA and client
    certificates for every host (``--cert-dir``), else each host's certs.d directory is used.
    """

    def __init__(
        self,
        *,
        tls_verify: bool | None = None,
        authfile: str | os.PathLike[str] | None = None,
        credentials: Credentials | None = None,
        registries_conf: RegistriesConf | None = None,
        retry: RetryPolicy | None = None,
        cert_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.tls_verify = tls_verify
        self.cert_dir = Path(cert_dir) if cert_dir else None
        self.authfile = authfile
        self.credentials = credentials
        self.conf = registries_conf or RegistriesConf()
        self.retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._registries: dict[str, Registry] = {}

    async def __aenter__(self) -> RegistryClient:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=_CONNECTIONS_PER_HOST),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120),
            headers={"User-Agent": f"berth/{__version__}"},
            auto_decompress=False,  # blobs must reach the hasher exactly as stored
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _insecure(self, endpoint: Endpoint) -> bool:
        if self.tls_verify is not None:
            return not self.tls_verify
        return endpoint.insecure or self.conf.is_insecure(endpoint.location)

    def registry(self, endpoint: Endpoint) -> Registry:
        """The (cached) ``Registry`` for an endpoint's host."""
        assert self._session is not None, "use RegistryClient as an async context manager"
        reg = self._registries.get(endpoint.location)
        if reg is None:
            tls = tls_context(cert_dir_for(endpoint.location, self.cert_dir))
            reg = Registry(
                self._session, endpoint.location, insecure=self._insecure(endpoint), retry=self.retry, tls=tls
            )
            self._registries[endpoint.location] = reg
        return reg

    def lookup_credentials(self, host: str, name: str) -> Credentials | None:
        """``--creds`` if given, else what registries.conf's credential helpers (by default the auth
        files) hold for this host and repository."""
        if self.credentials is not None:
            return self.credentials
        return creds_mod.lookup(host, name, self.authfile, self.conf.helpers)

    def repository(
        self,
        host: str,
        name: str,
        *,
        push: bool = False,
        extra_scopes: tuple[str, ...] = (),
        insecure: bool = False,
    ) -> Repository:
        """A ``Repository`` on ``host`` with the credentials stored for it."""
        reg = self.registry(Endpoint(host, insecure))
        return Repository(
            reg, name, self.lookup_credentials(host, name), push=push, extra_scopes=extra_scopes
        )

    def pull_repositories(self, name: str, by_digest: bool) -> list[Repository]:
        """Repositories to try, in order, for pulling ``name`` (``host/path``): mirrors first."""
        return [
            self.repository(ep.location, repo, insecure=ep.insecure)
            for ep, repo in self.conf.pull_endpoints(name, by_digest)
        ]

    def push_repository(self, name: str, extra_scopes: tuple[str, ...] = ()) -> Repository:
        """The repository a push of ``name`` goes to (registries.conf may relocate it)."""
        ep, repo = self.conf.push_endpoint(name)
        return self.repository(ep.location, repo, push=True, extra_scopes=extra_scopes, insecure=ep.insecure)

    async def login(self, host: str, creds: Credentials) -> None:
        """Check ``creds`` against ``host``; raise ``Unauthorized`` if the registry refuses them."""
        await self.registry(Endpoint(host)).check_login(creds)
