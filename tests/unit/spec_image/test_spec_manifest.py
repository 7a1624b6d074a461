"""spec/descriptor.py and spec/manifest.py: strict parsing, exact bytes, platform selection."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import InvalidArgument, NotFound
from berth.spec import mediatypes as mt
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex, ImageManifest, parse
from berth.spec.platform import Platform

CONFIG = Descriptor.of(mt.OCI_CONFIG, b'{"architecture":"amd64","os":"linux","rootfs":{}}')
LAYER = Descriptor.of(mt.OCI_LAYER_GZIP, b"layer")


def desc_json(media_type: str = mt.OCI_LAYER_GZIP, content: bytes = b"x", **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(Digest.of(content)), "size": len(content), **extra}


def manifest_json(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc_json(mt.OCI_CONFIG, b"{}"),
        "layers": [desc_json(content=b"a"), desc_json(content=b"b"), desc_json(content=b"c")],
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def test_parsed_manifest_keeps_exact_bytes() -> None:
    raw = json.dumps(manifest_json(), indent=3).encode() + b"\n"
    m = ImageManifest.parse(raw)
    assert m.to_bytes() == raw
    assert m.digest() == Digest.of(raw)
    assert m.descriptor() == Descriptor(mt.OCI_MANIFEST, Digest.of(raw), len(raw))
    assert [d.size for d in m.layers] == [1, 1, 1]
    assert m.children()[0].media_type == mt.OCI_CONFIG


def test_built_manifest_round_trips() -> None:
    subject = Descriptor.of(mt.OCI_MANIFEST, b"{}")
    m = ImageManifest(
        CONFIG, (LAYER,), subject=subject, artifact_type="application/x.sig", annotations={"a": "b"}
    )
    again = ImageManifest.parse(m.to_bytes())
    assert again == m
    assert again.to_bytes() == m.to_bytes()


def test_docker_manifest_needs_media_type_in_document() -> None:
    doc = manifest_json(mediaType=None)
    assert not ImageManifest.parse(json.dumps(doc).encode()).is_docker  # guessed as OCI
    with pytest.raises(InvalidArgument, match=r"manifest\.mediaType: required"):
        ImageManifest.parse(json.dumps(doc).encode(), mt.DOCKER_MANIFEST)
    doc["mediaType"] = mt.DOCKER_MANIFEST
    assert ImageManifest.parse(json.dumps(doc).encode(), mt.DOCKER_MANIFEST).is_docker


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            manifest_json(layers=[desc_json(), desc_json(), {**desc_json(), "digest": "sha256:zz"}]),
            r"^manifest\.layers\[2\]\.digest: invalid digest 'sha256:zz'",
        ),
        (
            manifest_json(layers=[{**desc_json(), "size": -1}]),
            r"^manifest\.layers\[0\]\.size: must not be negative",
        ),
        (
            manifest_json(layers=[{**desc_json(), "size": 1.5}]),
            r"^manifest\.layers\[0\]\.size: want an integer",
        ),
        (
            manifest_json(layers=[{**desc_json(), "size": True}]),
            r"^manifest\.layers\[0\]\.size: want an integer",
        ),
        (
            manifest_json(layers=[{**desc_json(), "mediaType": "nonsense"}]),
            r"^manifest\.layers\[0\]\.mediaType: invalid",
        ),
        (manifest_json(config=None), r"^manifest\.config: required field missing"),
        (
            manifest_json(layers=[{**desc_json(), "mediaType": "a/b\n"}]),
            r"^manifest\.layers\[0\]\.mediaType: invalid",
        ),
        (
            manifest_json(layers=[{**desc_json(), "digest": str(Digest.of(b"x")) + "\n"}]),
            r"^manifest\.layers\[0\]\.digest: invalid digest",
        ),
        (manifest_json(layers=None), r"^manifest\.layers: required field missing"),
        (manifest_json(layers={}), r"^manifest\.layers: want an array"),
        (manifest_json(schemaVersion=1), r"^manifest\.schemaVersion: want 2"),
        (manifest_json(mediaType="application/json"), r"^manifest\.mediaType: unsupported media type"),
        (manifest_json(annotations={"a": 1}), r"^manifest\.annotations\['a'\]: want a string"),
        (manifest_json(subject={"mediaType": mt.OCI_MANIFEST}), r"^manifest\.subject\.digest: required"),
        (
            manifest_json(config={**desc_json(mt.OCI_CONFIG, b"{}"), "urls": [1]}),
            r"^manifest\.config\.urls\[0\]",
        ),
        (manifest_json(manifests=[]), r"^manifest\.manifests: not allowed"),
    ],
)
def test_manifest_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"[]", "want a JSON object"),
        (b'{"schemaVersion": 2, "schemaVersion": 2}', "duplicate key"),
        (b'{"schemaVersion": NaN}', "NaN is not JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"schemaVersion": 2, "layers": [', "not valid JSON"),
    ],
)
def test_malformed_json(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(raw)


def test_media_type_must_agree_with_expected() -> None:
    with pytest.raises(InvalidArgument, match="does not match the expected"):
        parse(json.dumps(manifest_json()).encode(), mt.OCI_INDEX)
    with pytest.raises(InvalidArgument, match="want an image index"):
        ImageIndex.parse(json.dumps(manifest_json()).encode())


def test_embedded_data_is_verified() -> None:
    good = desc_json(content=b"hello", data=base64.b64encode(b"hello").decode())
    assert Descriptor.from_json(good, "d").data == b"hello"
    assert Descriptor.from_json(good, "d").to_json() == good
    bad = {**good, "data": base64.b64encode(b"jello").decode()}
    with pytest.raises(InvalidArgument, match=r"^d\.data: does not match"):
        Descriptor.from_json(bad, "d")
    with pytest.raises(InvalidArgument, match=r"^d\.data: not valid base64"):
        Descriptor.from_json({**good, "data": "!!"}, "d")


def _entry(platform: dict[str, str] | None, content: bytes) -> dict[str, Any]:
    out = desc_json(mt.DOCKER_MANIFEST, content)
    if platform is not None:
        out["platform"] = platform
    return out


MANIFEST_LIST = {
    "schemaVersion": 2,
    "mediaType": mt.DOCKER_MANIFEST_LIST,
    "manifests": [
        _entry({"architecture": "amd64", "os": "linux"}, b"amd64"),
        _entry({"architecture": "arm", "os": "linux", "variant": "v6"}, b"armv6"),
        _entry({"architecture": "arm", "os": "linux", "variant": "v7"}, b"armv7"),
        _entry({"architecture": "arm64", "os": "linux", "variant": "v8"}, b"arm64"),
        _entry(None, b"no-platform"),
    ],
}


@pytest.mark.parametrize(
    ("wanted", "content"),
    [
        ("linux/amd64", b"amd64"),
        ("linux/arm/v7", b"armv7"),
        ("linux/arm/v6", b"armv6"),
        ("linux/arm/v8", b"armv7"),
        ("linux/aarch64", b"arm64"),
        ("linux/x86_64", b"amd64"),
    ],
)
def test_select_picks_best_platform(wanted: str, content: bytes) -> None:
    index = ImageIndex.parse(json.dumps(MANIFEST_LIST).encode())
    assert index.select(Platform.parse(wanted)).digest == Digest.of(content)


def test_select_without_match_names_wanted_and_available() -> None:
    index = ImageIndex.parse(json.dumps(MANIFEST_LIST).encode())
    with pytest.raises(NotFound) as err:
        index.select(Platform.parse("linux/s390x"))
    assert str(err.value) == (
        "no manifest for platform linux/s390x in index; "
        "available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8"
    )


def test_index_round_trip_and_errors() -> None:
    idx = ImageIndex((Descriptor.of(mt.OCI_MANIFEST, b"m", platform=Platform("linux", "amd64")),))
    assert ImageIndex.parse(idx.to_bytes()) == idx
    assert parse(json.dumps({"schemaVersion": 2, "manifests": []}).encode()) == ImageIndex(())
    bad = {"schemaVersion": 2, "manifests": [{**desc_json(), "platform": {"os": "linux"}}]}
    with pytest.raises(InvalidArgument, match=r"^index\.manifests\[0\]\.platform\.architecture: required"):
        parse(json.dumps(bad).encode())
    with pytest.raises(InvalidArgument, match=r"^index: an index has no config"):
        parse(json.dumps({**bad, "layers": []}).encode(), mt.OCI_INDEX)


_descriptors = st.builds(
    Descriptor.of,
    st.sampled_from([mt.OCI_LAYER_GZIP, mt.OCI_MANIFEST, "application/x.a+json"]),
    st.binary(max_size=8),
    urls=st.lists(st.text(max_size=5), max_size=2).map(tuple),
    annotations=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    artifact_type=st.sampled_from(["", "application/x.sbom"]),
    platform=st.one_of(
        st.none(),
        st.builds(Platform, st.sampled_from(["linux", "windows"]), st.sampled_from(["amd64", "arm"])),
    ),
)


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(_descriptors, st.lists(_descriptors, max_size=3), st.one_of(st.none(), _descriptors))
def test_manifest_property_round_trip(
    config: Descriptor, layers: list[Descriptor], subject: Descriptor | None
) -> None:
    m = ImageManifest(config, tuple(layers), subject=subject)
    parsed = ImageManifest.parse(m.to_bytes())
    assert parsed == m
    assert parsed.digest() == m.digest()


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.lists(_descriptors, max_size=4))
def test_index_property_round_trip(entries: list[Descriptor]) -> None:
    idx = ImageIndex(tuple(entries), media_type=mt.DOCKER_MANIFEST_LIST)
    assert ImageIndex.parse(idx.to_bytes()) == idx


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.binary(max_size=64))
def test_junk_bytes_raise_only_invalid_argument(raw: bytes) -> None:
    with contextlib.suppress(InvalidArgument):
        parse(raw)


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "schemaVersion",
                "mediaType",
                "config",
                "layers",
                "manifests",
                "subject",
                "annotations",
                "artifactType",
            ]
        ),
        _json_values,
    )
)
def test_junk_documents_raise_only_invalid_argument(doc: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidArgument):
        parse(json.dumps(doc).encode())


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(
    st.dictionaries(
        st.sampled_from(
            ["mediaType", "digest", "size", "urls", "annotations", "data", "artifactType", "platform"]
        ),
        _json_values,
    )
)
def test_junk_descriptors_raise_only_invalid_argument(doc: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidArgument):
        parse(json.dumps(manifest_json(config=doc)).encode())


def test_null_arrays_from_go_encoders_read_as_empty() -> None:
    assert ImageIndex.parse(b'{"schemaVersion":2,"manifests":null}').manifests == ()
    doc = manifest_json(layers=None)
    doc["layers"] = None
    assert ImageManifest.parse(json.dumps(doc).encode()).layers == ()
