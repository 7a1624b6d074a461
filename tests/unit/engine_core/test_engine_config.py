"""Engine configuration: defaults, the TOML file, the environment and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.config import DEFAULT_ROOT, DEFAULT_RUNROOT, DEFAULT_RUNTIME, load_config
from berth.errors import InvalidArgument


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BERTH_ROOT", "BERTH_RUNROOT", "BERTH_RUNTIME", "BERTH_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(config_file=str(tmp_path / "absent.toml"))
    assert (cfg.root, cfg.runroot, cfg.runtime) == (DEFAULT_ROOT, DEFAULT_RUNROOT, DEFAULT_RUNTIME)
    assert cfg.db_path == DEFAULT_ROOT / "berth.db"


def test_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "berth.toml"
    conf.write_text(
        '[storage]\nroot = "/srv/a"\nrunroot = "/srv/run"\n'
        '[engine]\nruntime = "crun"\n[engine.runtimes]\nmine = "/opt/mine"\n'
        '[network]\ndefault_subnet = "10.99.0.0/24"\n'
    )
    cfg = load_config(config_file=str(conf))
    assert (cfg.root, cfg.runroot, cfg.runtime) == (Path("/srv/a"), Path("/srv/run"), "crun")
    assert cfg.runtimes == {"mine": "/opt/mine"} and cfg.default_subnet == "10.99.0.0/24"
    monkeypatch.setenv("BERTH_ROOT", "/srv/b")
    monkeypatch.setenv("BERTH_RUNTIME", "runc")
    cfg = load_config(config_file=str(conf))
    assert (cfg.root, cfg.runtime) == (Path("/srv/b"), "runc")
    cfg = load_config(root="/srv/c", runroot="/srv/r2", runtime="/bin/x", config_file=str(conf))
    assert (cfg.root, cfg.runroot, cfg.runtime) == (Path("/srv/c"), Path("/srv/r2"), "/bin/x")


def test_admission_section(tmp_path: Path) -> None:
    conf = tmp_path / "berth.toml"
    conf.write_text('[admission]\npolicies = ["/etc/p", "/srv/q"]\ndb = "/srv/osv"\n')
    cfg = load_config(config_file=str(conf))
    assert (cfg.admission_policies, cfg.admission_db) == (("/etc/p", "/srv/q"), "/srv/osv")
    assert load_config(config_file=str(tmp_path / "none.toml")).admission_policies == ()


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "other.toml"
    conf.write_text('[storage]\nroot = "/srv/env"\n')
    monkeypatch.setenv("BERTH_CONFIG", str(conf))
    assert load_config().root == Path("/srv/env")


@pytest.mark.parametrize(
    "text",
    [
        *("[storage\n", "storage = 3\n", "[engine]\nruntime = 4\n", '[network]\ncni_plugin_dirs = "x"\n'),
        *('[admission]\npolicies = "/etc/p"\n', "[admission]\ndb = 1\n", "admission = 1\n"),
    ],
)
def test_malformed_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    with pytest.raises(InvalidArgument, match=r"bad\.toml"):
        load_config(config_file=str(conf))
