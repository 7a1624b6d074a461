"""policy.json parsing (strict, as containers/image) and scope choice (most specific wins)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.spec.reference import Reference
from berth.trust.errors import PolicyError
from berth.trust.identity import SignedIdentity
from berth.trust.policy import docker_scopes, parse_policy


def _parse(doc: object) -> object:
    return parse_policy(json.dumps(doc).encode(), "p.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"default": [{"type": "reject"}], "default": []}', "duplicate field 'default'"),
        (b"{}", "'default' requirements are missing"),
        (b'{"default": []}', "non-empty list"),
        (b'{"default": [{"type": "trustMe"}]}', "unknown policy requirement type 'trustMe'"),
        (b'{"default": [{"type": "reject", "x": 1}]}', "unknown field 'x'"),
        (b'{"default": [{"type": "sigstoreSigned"}]}', "exactly one of keyPath, keyData"),
        (b'{"default": [{"type": "sigstoreSigned", "keyPath": "a", "keyData": "YQ=="}]}', "exactly one"),
        (b'{"default": [{"type": "signedBy", "keyPath": "a"}]}', "keyType None is not supported"),
        (b'{"default": [{"type": "sigstoreSigned", "keyData": "!"}]}', "not base64"),
        (b'{"default": [{"type": "sigstoreSigned", "keyPath": "a", "signedIdentity": {"type": "x"}}]}',
         "unknown signedIdentity type"),
        (b'{"default": [{"type": "reject"}], "transports": {"docker": {"library/busybox": []}}}',
         "not in the fully expanded form"),
        (b'{"default": [{"type": "reject"}], "transports": {"docker": {"*.a*.com": [{"type": "reject"}]}}}',
         "invalid wildcard"),
    ],
)  # fmt: skip
def test_bad_policies(text: bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "p.json")


def test_docker_scopes_most_specific_first() -> None:
    assert docker_scopes(Reference.parse("reg.example.com:5000/ns/app:v1")) == [
        "reg.example.com:5000/ns/app:v1", "reg.example.com:5000/ns/app", "reg.example.com:5000/ns",
        "reg.example.com:5000", "*.example.com", "*.com",
    ]  # fmt: skip


def test_most_specific_scope_wins() -> None:
    policy = parse_policy(json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            "": [{"type": "reject"}], "*.example.com": [{"type": "insecureAcceptAnything"}],
            "reg.example.com/ns": [{"type": "reject"}],
        }},
    }).encode())  # fmt: skip
    assert policy.docker_scope(Reference.parse("reg.example.com/ns/app")).name == "reg.example.com/ns"
    assert policy.docker_scope(Reference.parse("reg.example.com/other/app")).name == "*.example.com"
    assert policy.docker_scope(Reference.parse("quay.io/app")).name == ""


@pytest.mark.parametrize(
    ("identity", "image", "signed", "ok"),
    [
        (SignedIdentity("matchExact"), "r.io/a:1", "r.io/a:1", True),
        (SignedIdentity("matchExact"), "r.io/a:1", "r.io/a:2", False),
        (SignedIdentity("matchRepoDigestOrExact"), "r.io/a@sha256:" + "0" * 64, "r.io/a:2", True),
        (SignedIdentity("matchRepoDigestOrExact"), "r.io/a:1", "r.io/a", False),
        (SignedIdentity("matchRepository"), "r.io/a:1", "r.io/a", True),
        (SignedIdentity("matchRepository"), "r.io/a:1", "r.io/b:1", False),
        (SignedIdentity("exactRepository", (("dockerRepository", "v.io/a"),)), "r.io/x:1", "v.io/a:7", True),
        (SignedIdentity("exactReference", (("dockerReference", "v.io/a:1"),)), "r.io/x:1", "v.io/a:2", False),
        (SignedIdentity("remapIdentity", (("prefix", "m.io/mirror"), ("signedPrefix", "v.io"))),
         "m.io/mirror/app:1", "v.io/app:1", True),
        (SignedIdentity("remapIdentity", (("prefix", "m.io/mirror"), ("signedPrefix", "v.io"))),
         "m.io/mirrorx/app:1", "v.io/app:1", False),
        (SignedIdentity("matchRepository"), "busybox", "docker.io/library/busybox:1", True),
    ],
)  # fmt: skip
def test_signed_identity(identity: SignedIdentity, image: str, signed: str, ok: bool) -> None:
    assert identity.matches(Reference.parse(image), signed) is ok


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["default", "transports", "x"]), _json, max_size=3))
def test_arbitrary_documents_parse_or_fail_with_policy_error(doc: dict[str, object]) -> None:
    with contextlib.suppress(PolicyError):
        _parse(doc)
