"""spec/image_config.py: config.md fields, Docker's extra fields ignored, exact bytes kept."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.spec.digest import Digest
from berth.spec.image_config import ContainerConfig, History, ImageConfig
from berth.spec.platform import Platform

DIFF = str(Digest.of(b"layer"))

DOCKER_STYLE = {
    "architecture": "arm",
    "variant": "v7",
    "os": "linux",
    "created": "2024-01-01T00:00:00Z",
    "docker_version": "20.10",
    "container_config": {"Hostname": "abc"},
    "config": {
        "Hostname": "",
        "User": "1000:1000",
        "ExposedPorts": {"80/tcp": {}, "53/udp": None},
        "Env": ["PATH=/bin"],
        "Entrypoint": None,
        "Cmd": ["/bin/sh"],
        "Volumes": {"/data": {}},
        "WorkingDir": "/w",
        "Labels": {"a": "b"},
        "StopSignal": "SIGTERM",
        "ArgsEscaped": True,
    },
    "rootfs": {"type": "layers", "diff_ids": [DIFF]},
    "history": [{"created_by": "ADD x", "empty_layer": False}, {"comment": "c", "empty_layer": True}],
}


def test_parses_docker_config_and_keeps_bytes() -> None:
    raw = json.dumps(DOCKER_STYLE, indent=2).encode()
    cfg = ImageConfig.parse(raw)
    assert cfg.to_bytes() == raw and cfg.digest() == Digest.of(raw)
    assert cfg.platform == Platform("linux", "arm", "v7")
    c = cfg.config
    assert (c.user, c.exposed_ports, c.env, c.entrypoint, c.cmd) == (
        "1000:1000",
        ("80/tcp", "53/udp"),
        ("PATH=/bin",),
        None,
        ("/bin/sh",),
    )
    assert (c.volumes, c.working_dir, c.labels, c.stop_signal, c.args_escaped) == (
        ("/data",),
        "/w",
        {"a": "b"},
        "SIGTERM",
        True,
    )
    assert cfg.diff_ids == (Digest.parse(DIFF),)
    assert cfg.history == (History(created_by="ADD x"), History(comment="c", empty_layer=True))


def test_built_config_round_trips() -> None:
    cfg = ImageConfig(
        "amd64",
        "linux",
        (Digest.parse(DIFF),),
        ContainerConfig(env=("A=1",), entrypoint=(), cmd=("sh",), exposed_ports=("8080/tcp",)),
        history=(History(created_by="x"),),
        os_features=("f",),
        os_version="1",
    )
    again = ImageConfig.parse(cfg.to_bytes())
    assert again == cfg
    assert again.config.entrypoint == ()  # an empty Entrypoint is not the same as none


def _config(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_config(rootfs=None), r"^config\.rootfs: required"),
        (
            _config(rootfs={"type": "layers", "diff_ids": ["x", "y"]}),
            r"^config\.rootfs\.diff_ids\[0\]: invalid digest",
        ),
        (_config(rootfs={"type": "zfs", "diff_ids": []}), r"^config\.rootfs\.type: want 'layers'"),
        (_config(architecture=None), r"^config\.architecture: required"),
        (_config(config={"Env": "A=1"}), r"^config\.config\.Env: want an array"),
        (_config(config={"Cmd": [1]}), r"^config\.config\.Cmd\[0\]: want a string"),
        (
            _config(config={"ExposedPorts": {"80": 1}}),
            r"^config\.config\.ExposedPorts\['80'\]: want an empty object",
        ),
        (_config(history=[{"empty_layer": "yes"}]), r"^config\.history\[0\]\.empty_layer: want a boolean"),
    ],
)
def test_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ImageConfig.parse(json.dumps(doc).encode())


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_keys = ["architecture", "os", "variant", "rootfs", "config", "history", "created", "os.features"]


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(st.dictionaries(st.sampled_from(_keys), _json_values))
def test_junk_raises_only_invalid_argument(doc: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidArgument):
        ImageConfig.parse(json.dumps(doc).encode())


@settings(deadline=None)  # shared CI machine: no per-example time limit
@given(
    st.lists(st.text(max_size=6), max_size=3).map(tuple),
    st.one_of(st.none(), st.lists(st.text(max_size=6), max_size=3).map(tuple)),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
def test_property_round_trip(
    env: tuple[str, ...], cmd: tuple[str, ...] | None, labels: dict[str, str]
) -> None:
    cfg = ImageConfig("amd64", "linux", (), ContainerConfig(env=env, cmd=cmd, labels=labels))
    assert ImageConfig.parse(cfg.to_bytes()) == cfg


def test_docker_onbuild_and_shell_round_trip() -> None:
    obj = {"OnBuild": ["RUN echo hi", "COPY . /app"], "Shell": ["/bin/ash", "-c"]}
    config = ContainerConfig.from_json(obj, "config")
    assert config.on_build == ("RUN echo hi", "COPY . /app") and config.shell == ("/bin/ash", "-c")
    assert config.to_json() == obj
    assert "OnBuild" not in ContainerConfig().to_json()
