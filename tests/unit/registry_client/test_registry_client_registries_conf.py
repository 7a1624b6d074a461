"""registries.conf parsing: prefixes, locations, mirrors, insecure and blocked registries."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.distribution import registries_conf
from berth.distribution.registries_conf import Endpoint
from berth.errors import InvalidArgument

CONF = """
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true

[[registry]]
prefix = "docker.io/library/busybox"
location = "internal.example/bb"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "bbmirror.example"

[[registry]]
location = "plain.local:5000"
insecure = true

[[registry]]
prefix = "evil.example"
blocked = true
"""


def test_longest_prefix_mirrors_first_then_location() -> None:
    conf = registries_conf.parse(CONF)
    assert conf.pull_endpoints("docker.io/library/alpine", by_digest=False) == [
        (Endpoint("mirror.local:5000", True), "hub/library/alpine"),
        (Endpoint("docker.io", False), "library/alpine"),
    ]
    # digest-only mirrors are skipped for tag pulls, used for digest pulls
    assert conf.pull_endpoints("docker.io/library/busybox", by_digest=False) == [
        (Endpoint("internal.example"), "bb")
    ]
    assert conf.pull_endpoints("docker.io/library/busybox", by_digest=True)[0] == (
        Endpoint("bbmirror.example"),
        "",
    )
    assert conf.push_endpoint("docker.io/library/alpine") == (Endpoint("docker.io"), "library/alpine")
    assert conf.pull_endpoints("quay.io/a/b", by_digest=False) == [(Endpoint("quay.io"), "a/b")]


def test_insecure_and_blocked() -> None:
    conf = registries_conf.parse(CONF)
    assert conf.is_insecure("plain.local:5000") and conf.is_insecure("mirror.local:5000")
    assert not conf.is_insecure("docker.io")
    with pytest.raises(InvalidArgument, match="blocked"):
        conf.pull_endpoints("evil.example/x", by_digest=False)


@pytest.mark.parametrize(
    "text",
    [
        "[[registry]]\nprefix = 3\n",
        "registry = 1\n",
        "[[registry]]\nlocation='a'\ninsecure='yes'\n",
        "[[registry]]\nlocation='a'\npull-from-mirror='never'\n",
        "[[registry\n",
    ],
)
def test_bad_files_raise(text: str) -> None:
    with pytest.raises(InvalidArgument, match="conf"):
        registries_conf.parse(text, "test.conf")


def test_load_missing_default_is_empty_and_explicit_is_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BERTH_REGISTRIES_CONF", raising=False)
    monkeypatch.setattr(registries_conf, "DEFAULT_PATH", tmp_path / "nope.conf")
    assert registries_conf.load().registries == ()
    with pytest.raises(InvalidArgument, match="does not exist"):
        registries_conf.load(tmp_path / "missing.conf")
    path = tmp_path / "r.conf"
    path.write_text(CONF)
    monkeypatch.setenv("BERTH_REGISTRIES_CONF", str(path))
    assert len(registries_conf.load().registries) == 4
