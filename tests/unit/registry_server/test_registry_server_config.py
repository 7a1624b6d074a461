"""Registry settings from TOML or JSON files and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.distribution.server import build_config, read_config_file
from berth.errors import InvalidArgument


def test_toml_file_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(
        'allow_sparse = true\nhtpasswd = "/etc/h"\n[token]\nkey = "/k.pem"\nservice = "s"\n'
        '[[access]]\naccount = "a"\nrepository = "*"\nactions = ["pull"]\n'
    )
    config = build_config(tmp_path / "root", read_config_file(path), addr="127.0.0.1:6000", htpasswd=None)
    assert config.allow_sparse and config.htpasswd == Path("/etc/h")
    assert config.token is not None and config.token.key == Path("/k.pem") and config.token.service == "s"
    assert config.access == [{"account": "a", "repository": "*", "actions": ["pull"]}]
    assert config.host_port == ("127.0.0.1", 6000)


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text('{"upload_max_age": 60}')
    assert build_config(tmp_path, read_config_file(path)).upload_max_age == 60


@pytest.mark.parametrize(
    ("values", "flags", "message"),
    [
        ({"colour": "blue"}, {}, "unknown registry settings"),
        ({"token": {}}, {}, "token needs key"),
        ({"token": {"key": "k", "bogus": 1}}, {}, "unknown token settings"),
        ({}, {"tls_cert": "c"}, "go together"),
    ],
)
def test_bad_settings(
    tmp_path: Path, values: dict[str, object], flags: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_config(tmp_path, values, **flags)


def test_unparsable_file_and_bad_address(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("= nope")
    with pytest.raises(InvalidArgument, match="cannot parse"):
        read_config_file(path)
    with pytest.raises(InvalidArgument, match="HOST:PORT"):
        _ = build_config(tmp_path, {}, addr="nowhere").host_port
