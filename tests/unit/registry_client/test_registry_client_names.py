"""Transport-qualified image names (``berth copy`` arguments)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.distribution.transports.names import ImageName, parse_image_name
from berth.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker://busybox", ImageName("docker", "", "busybox")),
        (
            "docker://127.0.0.1:5000/a/b:1@sha256:" + "a" * 64,
            ImageName("docker", "", "127.0.0.1:5000/a/b:1@sha256:" + "a" * 64),
        ),
        ("oci:/tmp/layout", ImageName("oci", "/tmp/layout", "")),
        ("oci:/tmp/layout:v1", ImageName("oci", "/tmp/layout", "v1")),
        ("oci-archive:img.tar:v1", ImageName("oci-archive", "img.tar", "v1")),
        (
            "docker-archive:/x/s.tar:example.com:5000/app:1",
            ImageName("docker-archive", "/x/s.tar", "example.com:5000/app:1"),
        ),
        ("berth:alpine", ImageName("berth", "", "alpine")),
        ("containers-storage:alpine:3", ImageName("berth", "", "alpine:3")),
    ],
)
def test_known_forms(text: str, expected: ImageName) -> None:
    assert parse_image_name(text) == expected


@pytest.mark.parametrize(
    "text", ["", "busybox", "docker:busybox", "docker://", "oci:", "oci::tag", "berth:", "dir:/x", "ftp://x"]
)
def test_rejected_forms(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid image name"):
        parse_image_name(text)


_paths = st.text(
    alphabet=st.characters(blacklist_characters=":\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
)
_refs = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/._-@", max_size=30)


@given(st.sampled_from(["oci", "oci-archive", "docker-archive"]), _paths, _refs)
def test_file_transports_round_trip(transport: str, path: str, ref: str) -> None:
    name = parse_image_name(f"{transport}:{path}" + (f":{ref}" if ref else ""))
    assert (name.transport, name.path, name.reference) == (transport, path, ref)
    assert parse_image_name(str(name)) == name


@given(st.text(max_size=60))
def test_parser_raises_only_invalid_argument(text: str) -> None:
    try:
        name = parse_image_name(text)
    except InvalidArgument:
        return
    assert name.transport in ("docker", "oci", "oci-archive", "docker-archive", "berth")
