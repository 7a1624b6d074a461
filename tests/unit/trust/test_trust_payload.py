"""The simple-signing payload: written as cosign and containers/image write it, read as strictly."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.spec.digest import Digest
from berth.trust.errors import SignatureError
from berth.trust.payload import Payload, new_payload, parse_payload

DIGEST = Digest.of(b"manifest")


def _doc(**critical: object) -> dict[str, object]:
    base: dict[str, object] = {
        "identity": {"docker-reference": "example.com/app:1"},
        "image": {"docker-manifest-digest": str(DIGEST)},
        "type": "cosign container image signature",
    }
    return {"critical": {**base, **critical}, "optional": None}


def test_round_trip() -> None:
    payload = new_payload("example.com/app:1", DIGEST)
    doc = json.loads(payload.to_json())
    assert doc["critical"]["type"] == "cosign container image signature"
    assert doc["optional"]["creator"].startswith("berth ")
    assert parse_payload(payload.to_json()) == payload


def test_cosign_null_optional_is_read() -> None:
    assert parse_payload(json.dumps(_doc()).encode()) == Payload("example.com/app:1", DIGEST)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"critical": _doc()["critical"]}, "has fields"),
        ({**_doc(), "extra": 1}, "has fields"),
        (_doc(type="atomic container signature"), "unknown type"),
        (_doc(extra=1), "critical has fields"),
        (_doc(image={"docker-manifest-digest": "nope"}), "invalid digest"),
        (_doc(image={}), "critical.image has fields"),
        (_doc(identity={"docker-reference": 3}), "not a string"),
        ({**_doc(), "optional": []}, "optional is not a JSON object"),
        ({**_doc(), "optional": {"timestamp": "now"}}, "timestamp is not a number"),
    ],
)
def test_malformed_payloads(doc: object, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        parse_payload(json.dumps(doc).encode())


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(SignatureError):
        parse_payload(data)
