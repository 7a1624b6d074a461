"""The simple-signing payload that sigstore signatures sign.

Shape (containers/image docs/containers-signature.5.md, as cosign writes it)::

    {"critical": {"identity": {"docker-reference": "registry.example/app:1"},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {"creator": "berth 0.1.0", "timestamp": 1700000000}}

Reading is as strict as containers/image's: ``critical`` and ``optional`` must both be present and
``critical`` and its members hold exactly the fields above (``optional`` may be ``null``, as cosign
writes it without annotations, and may hold other fields).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument
from berth.spec.digest import Digest
from berth.trust.errors import SignatureError

SIGNATURE_TYPE = "cosign container image signature"
#: ``critical.type`` of a GPG simple signature (containers-signature(5)), as skopeo writes it.
SIMPLE_SIGNING_TYPE = "atomic container signature"


@dataclass(frozen=True)
class Payload:
    """What a signature claims: this manifest digest is the image named ``docker_reference``."""

    docker_reference: str
    manifest_digest: Digest
    creator: str | None = None
    timestamp: int | None = None
    signature_type: str = SIGNATURE_TYPE

    def to_json(self) -> bytes:
        """The payload's bytes, as signed."""
        optional: dict[str, Any] = {}
        if self.creator is not None:
            optional["creator"] = self.creator
        if self.timestamp is not None:
            optional["timestamp"] = self.timestamp
        doc = {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": str(self.manifest_digest)},
                "type": self.signature_type,
            },
            "optional": optional,
        }
        return json.dumps(doc, separators=(",", ":")).encode()


def new_payload(
    docker_reference: str, manifest_digest: Digest, signature_type: str = SIGNATURE_TYPE
) -> Payload:
    """A payload for signing now, naming Berth as its creator."""
    from berth import __version__

    return Payload(
        docker_reference, manifest_digest, f"berth {__version__}", int(time.time()), signature_type
    )


def _exact(doc: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise SignatureError(f"signature payload: {where} is not a JSON object")
    if set(doc) != set(fields):
        raise SignatureError(f"signature payload: {where} has fields {sorted(doc)}, want {sorted(fields)}")
    return doc


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SignatureError(f"signature payload: {where} is not a string")
    return value


def parse_payload(data: bytes, signature_type: str = SIGNATURE_TYPE) -> Payload:
    """The payload in ``data`` (a ``signature_type`` one), checked field by field; ``SignatureError``
    names what is wrong."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise SignatureError("signature payload is not JSON") from None
    top = _exact(doc, ("critical", "optional"), "the payload")
    critical = _exact(top["critical"], ("identity", "image", "type"), "critical")
    if critical["type"] != signature_type:
        raise SignatureError(f"signature payload: unknown type {critical['type']!r}")
    image = _exact(critical["image"], ("docker-manifest-digest",), "critical.image")
    identity = _exact(critical["identity"], ("docker-reference",), "critical.identity")
    try:
        digest = Digest.parse(_string(image["docker-manifest-digest"], "docker-manifest-digest"))
    except InvalidArgument as err:
        raise SignatureError(f"signature payload: {err}") from None
    optional = top["optional"]
    if optional is not None and not isinstance(optional, dict):
        raise SignatureError("signature payload: optional is not a JSON object")
    creator = optional.get("creator") if optional else None
    timestamp = optional.get("timestamp") if optional else None
    if creator is not None:
        _string(creator, "optional.creator")
    if timestamp is not None and (not isinstance(timestamp, int | float) or isinstance(timestamp, bool)):
        raise SignatureError("signature payload: optional.timestamp is not a number")
    return Payload(
        _string(identity["docker-reference"], "docker-reference"),
        digest,
        creator,
        int(timestamp) if timestamp is not None else None,
        signature_type,
    )
