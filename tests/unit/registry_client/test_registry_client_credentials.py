"""auth.json / config.json parsing, lookup order, and atomic login/logout edits."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.distribution import credentials
from berth.errors import InvalidArgument, NotFound


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_docker_config_legacy_keys_are_normalized() -> None:
    doc = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": _auth("hubuser", "p")},
            "http://127.0.0.1:5000": {"auth": _auth("local", "q:r")},
            "quay.io/team": {"auth": _auth("team", "s")},
            "ghcr.io": {"identitytoken": "refresh-me"},
            "helper.example": {},
        },
        "credHelpers": {"gcr.io": "gcloud"},
    }
    found = credentials.parse_auth_file(json.dumps(doc).encode())
    assert found["docker.io"].username == "hubuser"
    assert found["127.0.0.1:5000"].password == "q:r"  # only the first ':' separates
    assert found["quay.io/team"].username == "team"
    assert found["ghcr.io"].identity_token == "refresh-me"
    assert "helper.example" not in found


@pytest.mark.parametrize(
    "doc",
    [
        b"[1]",
        b"{",
        b'{"auths": []}',
        b'{"auths": {"x": 1}}',
        b'{"auths": {"x": {"auth": "!!"}}}',
        b'{"auths": {"x": {"auth": "bm9jb2xvbg=="}}}',
    ],
)
def test_malformed_files_raise_one_clear_error(doc: bytes) -> None:
    with pytest.raises(InvalidArgument, match=r"f\.json"):
        credentials.parse_auth_file(doc, "f.json")


@given(
    st.text(alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=20),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_auth_field_round_trip(user: str, password: str) -> None:
    doc = {"auths": {"r.example": {"auth": _auth(user, password)}}}
    found = credentials.parse_auth_file(json.dumps(doc).encode())
    assert (found["r.example"].username, found["r.example"].password) == (user, password)


@given(st.binary(max_size=200))
def test_parser_raises_only_invalid_argument(data: bytes) -> None:
    with contextlib.suppress(InvalidArgument):
        credentials.parse_auth_file(data)


def test_search_order_and_most_specific_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    docker = tmp_path / "home/.docker/config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"r.example": {"auth": _auth("docker", "d")}}}))
    assert credentials.lookup("r.example", "a/b").username == "docker"  # type: ignore[union-attr]
    primary = credentials.store("r.example/a", "primary", "p")
    assert primary == tmp_path / "run/containers/auth.json"
    assert primary.stat().st_mode & 0o777 == 0o600
    assert credentials.lookup("r.example", "a/b").username == "primary"  # type: ignore[union-attr]
    assert credentials.lookup("r.example", "c").username == "docker"  # type: ignore[union-attr]
    assert credentials.lookup("other.example", "a") is None


def test_store_and_remove_keep_other_entries(tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {"keep.example": {"auth": _auth("k", "k")}}, "other": 1}))
    credentials.store("https://r.example/v1/", "u", "p", authfile)
    doc = json.loads(authfile.read_text())
    assert doc["other"] == 1 and set(doc["auths"]) == {"keep.example", "r.example"}
    credentials.remove("r.example", authfile)
    assert set(json.loads(authfile.read_text())["auths"]) == {"keep.example"}
    with pytest.raises(NotFound, match=r"not logged in to r\.example"):
        credentials.remove("r.example", authfile)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or ".tmp-" in p.name] == []


def test_store_refuses_to_overwrite_an_unreadable_file(tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    authfile.write_text("{not json")
    with pytest.raises(InvalidArgument):
        credentials.store("r.example", "u", "p", authfile)
    assert authfile.read_text() == "{not json"


def test_credentials_repr_hides_password() -> None:
    assert "secret" not in repr(credentials.Credentials("u", "secret"))


def _fake_helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text("#!/bin/sh\n" + script)
    helper.chmod(0o755)


def test_credential_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _fake_helper(bin_dir, "pass", 'read server\n[ "$1" = get ] || exit 3\n'
                 'case "$server" in reg.example) echo \'{"Username":"helped","Secret":"pw"}\';;\n'
                 '  https://index.docker.io/v1/) echo \'{"Username":"<token>","Secret":"refresh"}\';;\n'
                 '  *) echo "credentials not found in native keychain"; exit 1;; esac\n')  # fmt: skip
    _fake_helper(bin_dir, "broken", "echo 'keychain locked' >&2; exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "pass", "credHelpers": {"bad.example": "broken"},
                                  "auths": {"plain.example": {"auth": _auth("p", "q")}}}))  # fmt: skip
    assert credentials.lookup("reg.example", "a", config) == credentials.Credentials("helped", "pw")
    assert credentials.lookup("docker.io", "library/x", config) == credentials.Credentials("", "", "refresh")
    assert credentials.lookup("other.example", None, config) is None
    assert credentials.lookup("plain.example", None, config).username == "p"  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match="docker-credential-broken failed: keychain locked"):
        credentials.lookup("bad.example", None, config)
    config.write_text(json.dumps({"credsStore": "absent"}))
    with pytest.raises(InvalidArgument, match="docker-credential-absent is not installed"):
        credentials.lookup("reg.example", None, config)


def test_registries_conf_credential_helpers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _fake_helper(bin_dir, "first", 'read server\ncase "$server" in\n'
                 '  h.example) echo \'{"Username":"first","Secret":"1"}\';;\n'
                 '  *) echo "credentials not found"; exit 1;; esac\n')  # fmt: skip
    _fake_helper(bin_dir, "locked", "echo 'keychain locked' >&2; exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {"h.example": {"auth": _auth("file", "f")},
                                              "f.example": {"auth": _auth("file", "f")}}}))  # fmt: skip
    helpers = ("first", "containers-auth.json")
    assert credentials.lookup("h.example", "a", authfile, helpers).username == "first"  # type: ignore[union-attr]
    assert credentials.lookup("f.example", "a", authfile, helpers).username == "file"  # type: ignore[union-attr]
    assert (
        credentials.lookup("h.example", "a", authfile, ("containers-auth.json", "first")).username == "file"
    )  # type: ignore[union-attr]
    # a failing helper does not hide a later one's credentials; with none found, its error is raised
    assert credentials.lookup("f.example", None, authfile, ("locked", "containers-auth.json")) is not None
    with pytest.raises(InvalidArgument, match="docker-credential-locked failed: keychain locked"):
        credentials.lookup("n.example", None, authfile, ("locked", "containers-auth.json"))
