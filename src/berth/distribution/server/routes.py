"""Which endpoint of spec.md#endpoints a ``/v2/...`` path names.

Repository names contain slashes, so the path is matched from its end: the last recognised
``/blobs/``, ``/manifests/``, ``/tags/list``, ``/referrers/`` or ``/blobs/uploads/`` part decides the
endpoint and everything before it is the name, which is then checked against the spec's grammar
before anything touches storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.distribution.server.errors import RegistryError
from berth.spec.distribution import NAME_INVALID, UNSUPPORTED, is_valid_name


@dataclass(frozen=True)
class Route:
    """A parsed request path: the endpoint kind, the repository name and the trailing reference."""

    kind: str  # base, catalog, tags, manifest, blob, uploads, upload, referrers
    name: str = ""
    reference: str = ""


_PATTERNS = [
    ("tags", re.compile(r"^(?P<name>.+)/tags/list$")),
    ("manifest", re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$")),
    ("uploads", re.compile(r"^(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)$")),
    ("blob", re.compile(r"^(?P<name>.+)/blobs/(?P<ref>[^/]+)$")),
    ("referrers", re.compile(r"^(?P<name>.+)/referrers/(?P<ref>[^/]+)$")),
]


def parse_route(path: str) -> Route:
    """Parse the part of a request path after ``/v2/``; ``RegistryError`` if it names no endpoint."""
    if path == "":
        return Route("base")
    if path == "_catalog":
        return Route("catalog")
    for kind, pattern in _PATTERNS:
        match = pattern.match(path)
        if match is None:
            continue
        name = match.group("name")
        if not is_valid_name(name):
            raise RegistryError(NAME_INVALID, detail={"name": name})
        return Route(kind, name, match.groupdict().get("ref") or "")
    raise RegistryError(UNSUPPORTED, status=404, message="no such endpoint")
