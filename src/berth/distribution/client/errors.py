"""Errors the registry client raises, each a ``BerthError`` with one line naming the problem."""

from __future__ import annotations

import json

from berth.errors import BerthError, NotFound


class RegistryError(BerthError):
    """The registry answered with an error, or could not be reached."""


class Unauthorized(RegistryError):
    """Credentials are missing or were refused (HTTP 401), or access was denied (HTTP 403)."""


class ManifestUnknown(NotFound):
    """The registry has no manifest under that tag or digest."""


class BlobUnknown(NotFound):
    """The registry has no blob with that digest in the repository."""


def error_detail(body: bytes) -> str:
    """The first ``code: message`` of a distribution-spec error body (spec.md#error-codes), or ''."""
    try:
        doc = json.loads(body)
        first = doc["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return text.splitlines()[0] if text else ""
    return f"{code}: {message}" if code and message else code or message
