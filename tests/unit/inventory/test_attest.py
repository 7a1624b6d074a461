"""DSSE envelopes and in-toto statements for SBOM attestations."""

from __future__ import annotations

import json

import pytest

from berth.errors import InvalidArgument
from berth.inventory import attest
from berth.trust import keys


def test_pae_is_dsse_v1s_encoding() -> None:
    # The example of the DSSE protocol document.
    assert attest.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trip_and_refusals() -> None:
    pair = keys.generate(b"pw")
    private = keys.load_private_key(pair.private_pem, b"pw")
    public = keys.load_public_key(pair.public_pem)
    body = attest.statement(
        "reg.example/app:1", "sha256:" + "ab" * 32, "spdx-json", b'{"spdxVersion": "SPDX-2.3"}'
    )
    sealed = attest.envelope(body, private)
    assert attest.open_envelope(sealed, public) == json.loads(body)
    other = keys.load_public_key(keys.generate(b"x").public_pem)
    with pytest.raises(InvalidArgument, match="no signature"):
        attest.open_envelope(sealed, other)
    doc = json.loads(sealed)
    doc["payloadType"] = "text/plain"
    with pytest.raises(InvalidArgument, match="payload type"):
        attest.open_envelope(json.dumps(doc).encode(), public)
    with pytest.raises(InvalidArgument, match="not a DSSE envelope"):
        attest.open_envelope(b"[]", public)
