"""What every handler receives: the request, its parsed route and the registry's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from berth.distribution.server.errors import RegistryError
from berth.distribution.server.routes import Route
from berth.errors import InvalidArgument
from berth.spec.digest import Digest
from berth.spec.distribution import DIGEST_INVALID

if TYPE_CHECKING:
    from berth.distribution.server.app import Registry


@dataclass
class RequestContext:
    """One request being handled."""

    request: web.Request
    route: Route
    registry: Registry
    account: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def parse_digest(text: str) -> Digest:
    """A digest Berth can verify (sha256, sha512), else ``DIGEST_INVALID`` (spec.md#pushing-blobs)."""
    try:
        digest = Digest.parse(text)
    except InvalidArgument:
        raise RegistryError(DIGEST_INVALID, detail=text, message="invalid digest") from None
    if not digest.verifiable:
        raise RegistryError(DIGEST_INVALID, detail=text, message="unsupported digest algorithm")
    return digest


def upload_location(name: str, upload_id: str) -> str:
    """The ``<blob-push-location>`` of an upload."""
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def blob_location(name: str, digest: Digest) -> str:
    """The pullable ``<blob-location>`` of a blob."""
    return f"/v2/{name}/blobs/{digest}"
