"""Berth's registry client (``berth copy``) against Berth's registry server: they share only the spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from berth.distribution.auth import hash_password
from tests.integration.registry_server.peers import run, serve_cli, write_oci_layout

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


def berth(*args: str) -> str:
    return run(sys.executable, "-m", "berth.cli.main", *args)


def test_berth_copy_round_trip_with_basic_auth(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    digest = write_oci_layout(layout)
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hash_password('pw', rounds=4)}\n")
    with serve_cli(tmp_path / "root", "--htpasswd", str(htpasswd)) as addr:
        auth = ["--tls-verify=false", "--creds", "alice:pw", "-q"]
        berth("copy", *auth, f"oci:{layout}:v1", f"docker://{addr}/berth/client:v1")
        out = tmp_path / "out"
        berth("copy", *auth, f"docker://{addr}/berth/client:v1", f"oci:{out}:v1")
        assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
        with pytest.raises(AssertionError):
            berth("copy", "--tls-verify=false", "-q", f"docker://{addr}/berth/client:v1", f"oci:{out}:anon")
