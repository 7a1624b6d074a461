"""Parsing of the run/create flags: env, volumes, tmpfs, ports, entrypoint, sizes, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.options import (
    PortMapping,
    RestartPolicy,
    check_name,
    merge_env,
    parse_entrypoint,
    parse_env,
    parse_health_cmd,
    parse_log_opts,
    parse_publish,
    parse_tmpfs,
    parse_volume,
)
from berth.engine.units import human_size, parse_cpus, parse_duration, parse_size
from berth.errors import InvalidArgument


def test_env_files_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=1\n\nB=two words\n")
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    got = parse_env(["A=3", "FROM_HOST", "UNSET_VAR", "EMPTY="], [str(env_file)])
    assert got == ["A=1", "B=two words", "A=3", "FROM_HOST=h", "EMPTY="]
    assert merge_env(["PATH=/bin", "A=0"], got) == [
        "PATH=/bin",
        "A=3",
        "B=two words",
        "FROM_HOST=h",
        "EMPTY=",
    ]
    with pytest.raises(InvalidArgument, match="KEY=VALUE"):
        parse_env(["=x"], [])
    with pytest.raises(InvalidArgument, match="cannot read --env-file"):
        parse_env([], [str(tmp_path / "missing")])


def test_volumes(tmp_path: Path) -> None:
    assert parse_volume(f"{tmp_path}:/data:ro").read_only
    assert parse_volume(f"{tmp_path}:/data").source == str(tmp_path)
    named = parse_volume("cache:/var/cache")
    assert (named.name, named.destination, named.source) == ("cache", "/var/cache", "")
    assert parse_volume("/anon").name == ""
    for bad in ("a:b:c:d", "vol:relative", f"{tmp_path}:/x:bogus", "/does/not/exist:/x", "bad name:/x"):
        with pytest.raises(InvalidArgument):
            parse_volume(bad)
    for conflict in ("v:/x:ro,rw", "v:/x:dev,nodev", "v:/x:shared,rslave", "v:/x:bind,rbind", "v:/x:ro,ro"):
        with pytest.raises(InvalidArgument, match="only one of"):
            parse_volume(conflict)


def test_volume_mount_options_as_podman_processes_them(tmp_path: Path) -> None:
    from berth.engine.volumes.mount_options import processed_options

    def options(text: str) -> list[str]:
        return processed_options(parse_volume(text))

    assert options("data:/v") == ["rprivate", "nosuid", "nodev", "rbind"]
    assert options("data:/v:ro,suid,slave") == ["ro", "suid", "rslave", "nodev", "rbind"]
    assert options("data:/v:dev,noexec,bind,z") == ["dev", "noexec", "bind", "rprivate", "nosuid"]
    assert options("data:/v:rro") == ["ro", "rro", "rprivate", "nosuid", "nodev", "rbind"]
    # a bind mount has its source filesystem's flags (tmp_path's: none of them here)
    assert options(f"{tmp_path}:/b:rw") == ["rw", "rprivate", "rbind"]


def test_tmpfs_and_entrypoint() -> None:
    assert parse_tmpfs("/run") == ("/run", ["rw", "noexec", "nosuid", "nodev"])
    assert parse_tmpfs("/x:size=1m,mode=700") == ("/x", ["size=1m", "mode=700"])
    with pytest.raises(InvalidArgument):
        parse_tmpfs("rel")
    assert parse_entrypoint('["a", "b"]') == ["a", "b"]
    assert parse_entrypoint("/bin/sh") == ["/bin/sh"] and parse_entrypoint("") == []
    with pytest.raises(InvalidArgument):
        parse_entrypoint("[1]")


def test_publish() -> None:
    assert parse_publish("8080:80") == PortMapping(8080, 80)
    assert parse_publish("127.0.0.1:53:5353/udp") == PortMapping(53, 5353, "udp", "127.0.0.1")
    assert parse_publish("1:2").to_cni() == {"hostPort": 1, "containerPort": 2, "protocol": "tcp"}
    for bad in ("80", "0:80", "x:80", "1.2.3:1:2", "80:80/sctp", "70000:1"):
        with pytest.raises(InvalidArgument):
            parse_publish(bad)


def test_sizes_and_cpus() -> None:
    assert parse_size("64m") == 64 << 20 and parse_size("1g") == 1 << 30 and parse_size("512") == 512
    assert parse_size("1.5k") == 1536 and parse_size("10MB") == 10 << 20
    for bad in ("lots", "-1m", "1q"):
        with pytest.raises(InvalidArgument):
            parse_size(bad)
    assert parse_cpus("0.5") == 0.5
    with pytest.raises(InvalidArgument):
        parse_cpus("0")
    assert human_size(999) == "999B" and human_size(1_500_000) == "1.5MB"


def test_names() -> None:
    assert check_name("web-1.a_b") == "web-1.a_b"
    for bad in ("", "-x", "a b", "a/b"):
        with pytest.raises(InvalidArgument):
            check_name(bad)


@pytest.mark.parametrize(
    ("text", "name", "retries"),
    [("", "no", 0), ("no", "no", 0), ("always", "always", 0), ("unless-stopped", "unless-stopped", 0),
     ("on-failure", "on-failure", 0), ("on-failure:3", "on-failure", 3)],
)  # fmt: skip
def test_restart_policies(text: str, name: str, retries: int) -> None:
    assert RestartPolicy.parse(text) == RestartPolicy(name, retries)


@pytest.mark.parametrize("text", ["sometimes", "always:2", "on-failure:x", "on-failure:-1", "no:"])
def test_bad_restart_policies(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid --restart"):
        RestartPolicy.parse(text)


def test_what_each_policy_restarts() -> None:
    assert not RestartPolicy("no").wants_restart(1, 0)
    assert RestartPolicy("always").wants_restart(0, 100) and RestartPolicy("unless-stopped").wants_restart(
        0, 9
    )
    on_failure = RestartPolicy("on-failure", 2)
    assert not on_failure.wants_restart(0, 0)
    assert on_failure.wants_restart(1, 1) and not on_failure.wants_restart(1, 2)
    assert RestartPolicy("on-failure").wants_restart(137, 1000)


def test_log_options() -> None:
    assert parse_log_opts([]) == 0 and parse_log_opts(["max-size=0"]) == 0
    assert parse_log_opts(["max-size=10m"]) == 10 * 1024 * 1024
    refused = [(["max-size=1k"], "at least 8192"), (["tag=web"], "unsupported --log-opt"),
               (["max-size"], "unsupported --log-opt"), (["max-size=lots"], "invalid")]  # fmt: skip
    for bad, message in refused:
        with pytest.raises(InvalidArgument, match=message):
            parse_log_opts(bad)


def test_health_commands() -> None:
    assert parse_health_cmd("") == [] and parse_health_cmd("none") == []
    assert parse_health_cmd("curl -f localhost || exit 1") == ["CMD-SHELL", "curl -f localhost || exit 1"]
    assert parse_health_cmd('["/bin/check", "--quick"]') == ["CMD", "/bin/check", "--quick"]
    for bad in ("[", "[]", "[1]", '["ok", 2]'):
        with pytest.raises(InvalidArgument, match="invalid --health-cmd"):
            parse_health_cmd(bad)


def test_durations() -> None:
    assert parse_duration("30s", "x") == 30.0 and parse_duration("1m30s", "x") == 90.0
    assert parse_duration("0.2s", "x") == pytest.approx(0.2) and parse_duration("5", "x") == 5.0
    with pytest.raises(InvalidArgument, match="invalid --health-interval 'soon'"):
        parse_duration("soon", "--health-interval")
