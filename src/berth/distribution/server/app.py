"""The registry's aiohttp application: routing, authorization, errors and the spec's headers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from berth.distribution.auth.access import AccessPolicy, Scope
from berth.distribution.auth.authorizer import (
    AllowAll,
    AuthFailure,
    Authorizer,
    BasicAuthorizer,
    BasicCredentials,
    TokenAuthorizer,
)
from berth.distribution.auth.htpasswd import Htpasswd
from berth.distribution.auth.token import (
    TokenIssuer,
    TokenVerifier,
    load_private_key,
    load_public_key,
)
from berth.distribution.server import blobs, listing, manifests, token_endpoint, uploads
from berth.distribution.server.config import RegistryConfig
from berth.distribution.server.context import RequestContext
from berth.distribution.server.errors import RegistryError
from berth.distribution.server.metrics import METRICS_KEY, Metrics
from berth.distribution.server.routes import Route, parse_route
from berth.distribution.storage.filesystem import FilesystemDriver
from berth.distribution.storage.layout import RegistryStore
from berth.distribution.storage.uploads import Uploads
from berth.errors import InvalidArgument
from berth.spec.distribution import API_VERSION, API_VERSION_HEADER, DENIED, UNAUTHORIZED, UNSUPPORTED

Handler = Callable[[RequestContext], Awaitable[web.StreamResponse]]


async def _base(ctx: RequestContext) -> web.StreamResponse:
    # spec.md#determining-support: 200 means this registry implements the spec.
    return web.json_response({})


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("base", "GET"): _base,
    ("base", "HEAD"): _base,
    ("catalog", "GET"): listing.catalog,
    ("tags", "GET"): listing.list_tags,
    ("referrers", "GET"): listing.referrers,
    ("manifest", "GET"): manifests.get_manifest,
    ("manifest", "HEAD"): manifests.get_manifest,
    ("manifest", "PUT"): manifests.put_manifest,
    ("manifest", "DELETE"): manifests.delete_manifest,
    ("blob", "GET"): blobs.get_blob,
    ("blob", "HEAD"): blobs.get_blob,
    ("blob", "DELETE"): blobs.delete_blob,
    ("uploads", "POST"): uploads.start_upload,
    ("upload", "GET"): uploads.upload_status,
    ("upload", "PATCH"): uploads.patch_upload,
    ("upload", "PUT"): uploads.put_upload,
    ("upload", "DELETE"): uploads.cancel_upload,
}


def required_scopes(route: Route, method: str, query: Any) -> list[Scope]:
    """The scopes a request needs (Docker token protocol: pull, push, delete per repository)."""
    if route.kind == "base":
        return []
    if route.kind == "catalog":
        return [Scope("registry", "catalog", ("*",))]
    if method in ("GET", "HEAD") and route.kind != "upload":
        return [Scope("repository", route.name, ("pull",))]
    if method == "DELETE" and route.kind in ("manifest", "blob"):
        return [Scope("repository", route.name, ("delete",))]
    scopes = [Scope("repository", route.name, ("pull", "push"))]
    source = query.get("from") if route.kind == "uploads" and "mount" in query else None
    if source:
        scopes.append(Scope("repository", source, ("pull",)))
    return scopes


class Registry:
    """A registry's state: its storage, uploads in flight, authorizer and metrics."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.store = RegistryStore(FilesystemDriver(config.root))
        self.uploads = Uploads(self.store)
        self.metrics = Metrics()
        self.issuer: TokenIssuer | None = None
        self.credentials: BasicCredentials | None = None
        self.policy = AccessPolicy.from_config(config.access)
        self.authorizer = self._authorizer()

    def _authorizer(self) -> Authorizer:
        config = self.config
        if config.htpasswd is not None:
            self.credentials = BasicCredentials(Htpasswd.load(config.htpasswd))
        token = config.token
        if token is not None:
            if token.key is not None:
                key = load_private_key(token.key)
                self.issuer = TokenIssuer(key, token.issuer, token.service, token.expiry)
                public = key.public_key()
            else:
                assert token.public_key is not None
                public = load_public_key(token.public_key)
            return TokenAuthorizer(TokenVerifier(public, token.issuer, token.service), token.realm)
        if self.credentials is not None:
            return BasicAuthorizer(self.credentials, self.policy)
        if config.access:
            raise InvalidArgument("access rules need htpasswd or token authentication")
        return AllowAll()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route, authorize and run one ``/v2/`` request."""
        head = request.method == "HEAD"
        try:
            route = parse_route(request.match_info["path"])
            handler = _HANDLERS.get((route.kind, request.method))
            scopes = required_scopes(route, request.method, request.query)
            realm = self._realm(request)
            account = await self.authorizer.authorize(request.headers.get("Authorization"), scopes, realm)
            if handler is None:
                raise RegistryError(UNSUPPORTED, status=405, message=f"{request.method} is not allowed here")
            return await handler(RequestContext(request, route, self, account))
        except RegistryError as err:
            return err.response(head)
        except AuthFailure as err:
            code = UNAUTHORIZED if err.status == 401 else DENIED
            headers = {"WWW-Authenticate": err.challenge} if err.challenge else None
            return RegistryError(code, status=err.status, headers=headers, message=str(err)).response(head)

    def _realm(self, request: web.Request) -> str:
        if isinstance(self.authorizer, TokenAuthorizer):
            return f"{request.scheme}://{request.host}/token"
        return "berth-registry"

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """Liveness: the storage root is reachable."""
        await self.store.driver.stat("/")
        return web.Response(text="ok\n")

    async def metrics_text(self, request: web.Request) -> web.StreamResponse:
        """Prometheus text exposition of the counters."""
        body = self.metrics.render(self.uploads.bytes_received)
        return web.Response(text=body, content_type="text/plain", charset="utf-8")


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER] = API_VERSION


def make_app(config: RegistryConfig) -> web.Application:
    """The aiohttp application serving the registry described by ``config``."""
    registry = Registry(config)
    app = web.Application(client_max_size=1024**2)
    app[REGISTRY_KEY] = registry
    app[METRICS_KEY] = registry.metrics
    app.on_response_prepare.append(_api_version_header)
    app.router.add_route("*", "/v2/{path:.*}", registry.handle)
    app.router.add_route("*", "/v2", _redirect_v2)
    app.router.add_route("GET", "/token", functools.partial(token_endpoint.get_token, registry))
    app.router.add_route("POST", "/token", functools.partial(token_endpoint.post_token, registry))
    app.router.add_get("/healthz", registry.healthz)
    app.router.add_get("/metrics", registry.metrics_text)
    return app


async def _redirect_v2(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/v2/")


REGISTRY_KEY = web.AppKey("registry", Registry)
