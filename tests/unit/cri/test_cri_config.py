"""``berth cri serve --config``: the TOML settings, bad ones refused in one line; and no other
``berth`` command imports gRPC."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from berth.cri.config import DEFAULT_LISTEN, load_cri_config
from berth.errors import InvalidArgument


def test_defaults_and_a_full_file(tmp_path: Path) -> None:
    assert load_cri_config(None).listen == DEFAULT_LISTEN
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    path = tmp_path / "cri.toml"
    path.write_text(
        f'listen = "unix:///run/x.sock"\nsandbox_image = "registry.k8s.io/pause:3.9"\n'
        f'registries_conf = "{conf}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n'
        '[runtime_handlers]\ndefault = "runc"\nfast = "crun"\n'
    )
    config = load_cri_config(str(path))
    assert config.listen == "unix:///run/x.sock" and config.cni_plugin_dirs == ("/usr/lib/cni",)
    assert (config.runtime_for(""), config.runtime_for("fast")) == ("runc", "crun")
    assert load_cri_config(str(path), "unix:///tmp/flag.sock").listen == "unix:///tmp/flag.sock"
    with pytest.raises(InvalidArgument, match="unknown runtime handler 'kata'"):
        config.runtime_for("kata")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listen = 'tcp://127.0.0.1:1'", "want unix:///ABSOLUTE/PATH"),
        ("lissen = 'unix:///x'", "unknown key 'lissen'"),
        ("sandbox_image = 3", "sandbox_image must be a string"),
        ("cni_plugin_dirs = '/usr/lib/cni'", "cni_plugin_dirs must be a list"),
        ("[runtime_handlers]\nx = 'docker'", "runtime handler 'x' names 'docker'"),
        ("auth_file = '/nonexistent/auth.json'", "auth_file /nonexistent/auth.json is not a file"),
        ("listen = ", "invalid --config"),
        ("metrics_address = 'nowhere'", "metrics_address 'nowhere' is not HOST:PORT"),
        ("cni_conf_dir = 'net.d'", "cni_conf_dir 'net.d' is not an absolute path"),
        ("nri_socket = 3", "nri_socket must be a string"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cri.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        load_cri_config(str(path))


def test_serve_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cri.toml"
    path.write_text("listen = 'tcp://0.0.0.0:1'")
    run = subprocess.run(
        [sys.executable, "-m", "berth.cli.main", "cri", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and run.stderr.count("\n") == 1 and "unix:///ABSOLUTE/PATH" in run.stderr


def test_other_commands_do_not_import_grpc() -> None:
    code = (
        "import sys\nfrom berth.cli.main import build_parser\n"
        "for command in ('ps', 'pod', 'images', 'cri'):\n    build_parser(command)\n"
        "assert not [m for m in sys.modules if m.startswith(('grpc', 'google.protobuf', 'berth.cri'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
