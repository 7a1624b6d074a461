"""Vocabulary of the OCI Distribution Spec (distribution-spec spec.md): names, tags, error codes.

Pure data and validation, no I/O, so both the registry client and the registry server can share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.errors import InvalidArgument

# spec.md#pulling-manifests: <name> is one or more path components separated by "/".
NAME_PATTERN = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
# spec.md#pulling-manifests: a tag is at most 128 characters.
TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"

_NAME = re.compile(rf"^{NAME_PATTERN}$")
_TAG = re.compile(rf"^{TAG_PATTERN}$")

#: Clients commonly limit "host/name" to 255 characters (spec.md implementers note); a registry
#: refuses names that could never be pulled by them.
MAX_NAME_LENGTH = 255

#: The header every response of a registry carries (distribution registry compatibility).
API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"
#: spec.md#pushing-manifests: registries should accept manifests of at least 4 MB.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a repository name the spec's grammar allows."""
    return len(name) <= MAX_NAME_LENGTH and _NAME.match(name) is not None


def is_valid_tag(tag: str) -> bool:
    """Whether ``tag`` is a tag the spec's grammar allows."""
    return _TAG.match(tag) is not None


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name; raise ``InvalidArgument`` otherwise."""
    if not is_valid_name(name):
        raise InvalidArgument(f"invalid repository name {name!r}")
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag; raise ``InvalidArgument`` otherwise."""
    if not is_valid_tag(tag):
        raise InvalidArgument(f"invalid tag {tag!r}")
    return tag


@dataclass(frozen=True)
class ErrorCode:
    """One of the spec's error codes (spec.md#error-codes) with its usual HTTP status."""

    code: str
    message: str
    status: int


BLOB_UNKNOWN = ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 400)
BLOB_UPLOAD_UNKNOWN = ErrorCode("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)
DIGEST_INVALID = ErrorCode("DIGEST_INVALID", "provided digest did not match uploaded content", 400)
MANIFEST_BLOB_UNKNOWN = ErrorCode(
    "MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400
)
MANIFEST_INVALID = ErrorCode("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = ErrorCode("MANIFEST_UNKNOWN", "manifest unknown to registry", 404)
NAME_INVALID = ErrorCode("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = ErrorCode("NAME_UNKNOWN", "repository name not known to registry", 404)
SIZE_INVALID = ErrorCode("SIZE_INVALID", "provided length did not match content length", 400)
UNAUTHORIZED = ErrorCode("UNAUTHORIZED", "authentication required", 401)
DENIED = ErrorCode("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = ErrorCode("UNSUPPORTED", "the operation is unsupported", 405)
TOOMANYREQUESTS = ErrorCode("TOOMANYREQUESTS", "too many requests", 429)

ERROR_CODES = {
    e.code: e
    for e in (
        BLOB_UNKNOWN,
        BLOB_UPLOAD_INVALID,
        BLOB_UPLOAD_UNKNOWN,
        DIGEST_INVALID,
        MANIFEST_BLOB_UNKNOWN,
        MANIFEST_INVALID,
        MANIFEST_UNKNOWN,
        NAME_INVALID,
        NAME_UNKNOWN,
        SIZE_INVALID,
        UNAUTHORIZED,
        DENIED,
        UNSUPPORTED,
        TOOMANYREQUESTS,
    )
}


def referrers_tag(algorithm: str, encoded: str) -> str:
    """The referrers tag schema's tag for a subject digest (spec.md#referrers-tag-schema)."""
    return re.sub(r"[^a-zA-Z0-9._-]", "-", f"{algorithm[:32]}-{encoded[:64]}")
