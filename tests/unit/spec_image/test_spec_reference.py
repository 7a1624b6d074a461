"""spec/reference.py: Docker's reference grammar and normalization (distribution/reference)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.spec.digest import Digest
from berth.spec.reference import Reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "canonical", "familiar"),
    [
        ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"),
        ("library/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"),
        ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
        ("quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"),
        ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
        (f"alpine@{DIGEST}", f"docker.io/library/alpine@{DIGEST}", f"alpine@{DIGEST}"),
        (f"alpine:3@{DIGEST}", f"docker.io/library/alpine:3@{DIGEST}", f"alpine:3@{DIGEST}"),
        ("a__b-c---d/e_f.g", "docker.io/a__b-c---d/e_f.g:latest", "a__b-c---d/e_f.g:latest"),
        ("a.b/c", "a.b/c:latest", "a.b/c:latest"),
        ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
    ],
)
def test_normalizes_like_docker(text: str, canonical: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == canonical
    assert ref.familiar() == familiar
    assert Reference.parse(canonical) == ref


def test_fields_and_no_default_tag() -> None:
    ref = Reference.parse("example.com:443/x/y", default_tag=False)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("example.com:443", "x/y", "", None)
    assert ref.name == "example.com:443/x/y"
    pinned = ref.with_digest(Digest.parse(DIGEST))
    assert str(pinned) == f"example.com:443/x/y@{DIGEST}"
    assert str(ref.with_tag("v2")) == "example.com:443/x/y:v2"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("Alpine", "lowercase"),
        ("docker.io/User/app", "lowercase"),
        ("a" * 64, "64-hex-digit"),
        ("alpine:", "invalid tag"),
        ("alpine:-x", "invalid tag"),
        ("alpine:" + "t" * 129, "invalid tag"),
        ("alpine@", "empty digest"),
        ("alpine@sha256:abc", "invalid digest"),
        ("a//b", "invalid repository path"),
        ("a/-b", "invalid repository path"),
        ("a/b_", "invalid repository path"),
        ("a/b.-c", "invalid repository path"),
        ("exa_mple.com/a", "invalid domain"),
        ("example.com:port/a", "invalid domain"),
        ("example.com/" + "a" * 250, "longer than 255"),
        ("alpine\n", "invalid repository path"),
        ("alpine:latest\n", "invalid tag"),
        (f"alpine@{DIGEST}\n", "invalid digest"),
    ],
)
def test_rejects_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem):
        Reference.parse(text)


def test_longest_name_is_accepted() -> None:
    text = "example.com/" + "a" * (255 - len("example.com/"))
    assert Reference.parse(text).name == text


_alnum = st.text("abcz019", min_size=1, max_size=6)
_component = st.builds(
    lambda words, seps: words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=False)),
    st.lists(_alnum, min_size=1, max_size=3),
    st.lists(st.sampled_from([".", "_", "__", "-", "---"]), min_size=2, max_size=2),
)
_tag = st.text("aZ09_.-", min_size=1, max_size=20).filter(lambda t: t[0] not in ".-")


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(
    st.sampled_from(["", "localhost/", "example.com/", "reg.io:5000/", "docker.io/"]),
    st.lists(_component, min_size=1, max_size=3),
    st.one_of(st.none(), _tag),
    st.one_of(st.none(), st.binary().map(lambda b: str(Digest.of(b)))),
)
def test_round_trip(prefix: str, parts: list[str], tag: str | None, digest: str | None) -> None:
    text = prefix + "/".join(parts) + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if prefix == "" and len(parts) > 1 and "." in parts[0]:
        return  # a dotted first element is a domain (normalize.go), tested above
    ref = Reference.parse(text)
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar()) == ref
    assert ref.tag == (tag or ("" if digest else "latest"))


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.text())
def test_junk_raises_only_invalid_argument(text: str) -> None:
    with contextlib.suppress(InvalidArgument):
        Reference.parse(text)
