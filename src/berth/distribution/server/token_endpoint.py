"""Berth as its own token server (Docker registry token protocol).

``GET /token?service=...&scope=...`` authenticates the client with HTTP Basic against the htpasswd file
(no credentials: anonymous) and answers ``{"token", "access_token", "expires_in", "issued_at"}``.
``POST /token`` is the OAuth2 form of the same (``grant_type=password``), as clients with stored
passwords use it. Either way the token grants, per requested scope, the actions the access rules
allow the account; a scope it may not have is left out, never refused (the registry then answers
``insufficient_scope``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from berth.distribution.auth.access import Scope
from berth.distribution.auth.authorizer import AuthFailure
from berth.errors import InvalidArgument

if TYPE_CHECKING:
    from berth.distribution.server.app import Registry

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="berth-registry"'}


def _grants(registry: Registry, account: str | None, scopes: list[str]) -> list[Scope]:
    grants = []
    for text in scopes:
        for item in text.split():
            scope = Scope.parse(item)
            actions = registry.policy.granted(account, scope)
            if actions:
                grants.append(Scope(scope.type, scope.name, actions))
    return grants


def _issue(registry: Registry, account: str | None, service: str | None, scopes: list[str]) -> web.Response:
    issuer = registry.issuer
    assert issuer is not None
    if service not in (None, issuer.service):
        return web.json_response({"error": "invalid_request", "details": "unknown service"}, status=400)
    try:
        grants = _grants(registry, account, scopes)
    except InvalidArgument as err:
        return web.json_response({"error": "invalid_scope", "details": str(err)}, status=400)
    token, expires = issuer.issue(account, grants)
    return web.json_response(
        {
            "token": token,
            "access_token": token,
            "expires_in": expires,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "scope": " ".join(str(g) for g in grants),
        }
    )


async def get_token(registry: Registry, request: web.Request) -> web.StreamResponse:
    """``GET /token``: credentials in ``Authorization: Basic``, scopes in the query."""
    if registry.issuer is None:
        raise web.HTTPNotFound()
    account = None
    if registry.credentials is not None:
        try:
            account = await registry.credentials.account(request.headers.get("Authorization"))
        except AuthFailure as err:
            return web.json_response({"details": str(err)}, status=401, headers=_CHALLENGE)
    return _issue(registry, account, request.query.get("service"), request.query.getall("scope", []))


async def post_token(registry: Registry, request: web.Request) -> web.StreamResponse:
    """``POST /token``: the OAuth2 password grant, form-encoded."""
    if registry.issuer is None:
        raise web.HTTPNotFound()
    form = await request.post()
    if form.get("grant_type") != "password":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or registry.credentials is None:
        return web.json_response({"error": "invalid_grant"}, status=401, headers=_CHALLENGE)
    try:
        account = await registry.credentials.verify(username, password)
    except AuthFailure as err:
        return web.json_response(
            {"error": "invalid_grant", "details": str(err)}, status=401, headers=_CHALLENGE
        )
    service = form.get("service")
    scope = form.get("scope")
    return _issue(
        registry,
        account,
        service if isinstance(service, str) else None,
        [scope] if isinstance(scope, str) else [],
    )
