"""Simple signatures kept outside the registry: lookaside storage (containers-registries.d(5)), and
the registry's own signature extension when it offers one.

Lookaside signatures are read in order (``signature-1``, ``signature-2``...) until the first that is
missing, from ``file://``, ``http://`` or ``https://`` URLs; they are written to ``file://`` only, as
containers/image does. The extension (``X-Registry-Supports-Signatures: 1`` on ``GET /v2/``) is
``GET /extensions/v2/NAME/signatures/DIGEST``: ``{"signatures": [{"schemaVersion": 2, "type":
"atomic", "content": BASE64}]}``; a registry that offers it is read there instead of lookaside,
and written with one ``PUT`` of ``{"schemaVersion": 2, "type": "atomic", "name": "DIGEST@RANDOM",
"content": BASE64}`` per new signature (answered 201).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from berth.distribution.client.repository import Repository
from berth.errors import InvalidArgument
from berth.spec.digest import Digest
from berth.trust.registries_d import MAX_LOOKASIDE_SIGNATURES, signature_url

#: A GPG signature of a payload is well under a kilobyte; refuse absurd ones.
_MAX_SIGNATURE = 4 << 20


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise InvalidArgument(f"lookaside {url}: signatures can be written to file:// locations only")
    return Path(unquote(parts.path))


async def _read_one(url: str) -> bytes | None:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        try:
            return _file_path(url).read_bytes()
        except FileNotFoundError:
            return None
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"lookaside {url}: unsupported URL scheme {scheme!r}")
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise InvalidArgument(f"reading signature {url}: HTTP {resp.status}")
        return await resp.content.read(_MAX_SIGNATURE)


async def read_lookaside(base: str, digest: Digest) -> list[bytes]:
    """Every signature stored in lookaside ``base`` for the manifest ``digest``."""
    found: list[bytes] = []
    for index in range(MAX_LOOKASIDE_SIGNATURES):
        blob = await _read_one(signature_url(base, digest, index))
        if blob is None:
            return found
        found.append(blob)
    raise InvalidArgument(f"lookaside {base}: more than {MAX_LOOKASIDE_SIGNATURES} signatures")


def write_lookaside(base: str, digest: Digest, signature: bytes) -> Path:
    """Add ``signature`` after the existing ones for ``digest`` in the ``file://`` lookaside ``base``
    (an identical one already there is not added twice); return its path."""
    from berth.fsutil import atomic_write

    for index in range(MAX_LOOKASIDE_SIGNATURES):
        path = _file_path(signature_url(base, digest, index))
        try:
            if path.read_bytes() == signature:
                return path
        except FileNotFoundError:
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            atomic_write(path, signature, mode=0o644)
            return path
    raise InvalidArgument(f"lookaside {base}: more than {MAX_LOOKASIDE_SIGNATURES} signatures")


async def read_extension(repo: Repository, digest: Digest) -> list[bytes]:
    """The simple signatures the registry's signature extension holds for ``digest``."""
    resp = await repo.registry.request(
        "GET", _extension_path(repo, digest), creds=repo.creds, scopes=repo.scopes,
        what=f"signatures of {repo}@{digest}",
    )  # fmt: skip
    try:
        listed = json.loads(resp.body[:_MAX_SIGNATURE]).get("signatures") or []
        return [
            base64.b64decode(item["content"], validate=True)
            for item in listed
            if item.get("schemaVersion") == 2 and item.get("type") == "atomic"
        ]
    except (ValueError, AttributeError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument(f"{repo}: malformed signature list for {digest}") from None


async def write_extension(repo: Repository, digest: Digest, signatures: Sequence[bytes]) -> None:
    """Add each of ``signatures`` the registry's extension does not hold yet for ``digest``."""
    import secrets

    existing = await read_extension(repo, digest)
    for blob in dict.fromkeys(signatures):
        if blob in existing:
            continue
        # The extension wants the client to invent a unique name for each signature.
        body = {"schemaVersion": 2, "type": "atomic", "name": f"{digest}@{secrets.token_hex(16)}",
                "content": base64.b64encode(blob).decode()}  # fmt: skip
        await repo.registry.request(
            "PUT", _extension_path(repo, digest), creds=repo.creds, scopes=repo.scopes,
            headers={"Content-Type": "application/json"}, data=json.dumps(body).encode(),
            expect=(201,), what=f"storing a signature of {repo}@{digest}",
        )  # fmt: skip


def _extension_path(repo: Repository, digest: Digest) -> str:
    return f"/extensions/v2/{repo.name}/signatures/{digest}"
