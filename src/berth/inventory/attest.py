"""SBOMs as signed in-toto attestations, and SBOMs attached to their image in a registry.

An attestation is an in-toto Statement (in-toto attestation spec v1: ``_type``, ``subject`` with
the image's name and manifest digest, ``predicateType``, ``predicate``: the SBOM document) in a
DSSE envelope (DSSE v1: ``payloadType`` ``application/vnd.in-toto+json``, the base64 payload, and
signatures over the pre-authentication encoding ``PAE``), signed with a sigstore/cosign key of
``berth.trust.keys``. Attached, either one is an OCI 1.1 artifact whose subject is the image.
"""

from __future__ import annotations

import base64
import json

from berth.errors import InvalidArgument
from berth.trust import keys

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENVELOPE_TYPE = "application/vnd.dsse.envelope.v1+json"
#: The SBOM formats' predicate types (in-toto attestation predicates) and media types (IANA).
PREDICATE_TYPES = {"spdx-json": "https://spdx.dev/Document", "cyclonedx-json": "https://cyclonedx.org/bom"}
MEDIA_TYPES = {"spdx-json": "application/spdx+json", "cyclonedx-json": "application/vnd.cyclonedx+json"}
#: The annotation that names an attached envelope's predicate type (cosign's key for it).
PREDICATE_ANNOTATION = "dev.sigstore.cosign/predicateType"


def statement(name: str, manifest_digest: str, sbom_format: str, document: bytes) -> bytes:
    """The in-toto Statement that the SBOM ``document`` describes the image ``name`` whose manifest
    is ``manifest_digest`` (``sha256:HEX``)."""
    algorithm, _, encoded = manifest_digest.partition(":")
    body = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {algorithm: encoded}}],
        "predicateType": PREDICATE_TYPES[sbom_format],
        "predicate": json.loads(document),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of a payload: what a signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, key: keys.PrivateKey) -> bytes:
    """A DSSE envelope of the in-toto ``payload``, signed with ``key``."""
    signature = keys.sign(key, pae(PAYLOAD_TYPE, payload))
    doc = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def open_envelope(data: bytes, public: keys.PublicKey) -> dict[str, object]:
    """The Statement inside a DSSE envelope, if one of its signatures verifies with ``public``;
    ``InvalidArgument`` naming what is wrong otherwise."""
    try:
        doc = json.loads(data)
        payload = base64.b64decode(doc["payload"], validate=True)
        signatures = [base64.b64decode(s["sig"], validate=True) for s in doc["signatures"]]
        payload_type = doc["payloadType"]
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidArgument(f"not a DSSE envelope: {err}") from None
    if payload_type != PAYLOAD_TYPE:
        raise InvalidArgument(f"DSSE payload type {payload_type!r} is not {PAYLOAD_TYPE}")
    if not any(keys.verify(public, sig, pae(payload_type, payload)) for sig in signatures):
        raise InvalidArgument("no signature of the DSSE envelope verifies with the key")
    found: dict[str, object] = json.loads(payload)
    return found
