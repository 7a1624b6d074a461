"""berth-runtime's Go-style flag parser, signal names, and the update flag mapping."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.runtime.commands import COMMAND_FLAGS, GLOBAL_FLAGS, main, parse
from berth.runtime.verbs.kill import parse_signal
from berth.runtime.verbs.update import resources_from_flags


def test_go_style_flags_stop_at_the_first_positional() -> None:
    top = parse(["--root", "/r", "-log=/l", "--debug", "exec", "--tty", "id"], GLOBAL_FLAGS)
    assert top.flags == {"root": "/r", "log": "/l", "debug": True}
    assert top.args == ["exec", "--tty", "id"]
    sub = parse(
        ["-t", "--env", "A=1", "-e", "B=2", "--preserve-fds", "2", "id", "sh", "-c", "x"],
        COMMAND_FLAGS["exec"],
    )
    assert sub.flag("tty") and sub.multi("env") == ["A=1", "B=2"] and sub.number("preserve-fds") == 2
    assert sub.args == ["id", "sh", "-c", "x"]
    assert parse(["--detach=false", "id"], COMMAND_FLAGS["run"]).flag("detach") is False


@pytest.mark.parametrize(
    ("argv", "message"), [(["--nope"], "not defined: --nope"), (["--pid-file"], "needs an")]
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(argv, COMMAND_FLAGS["create"])


def test_unknown_command_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 1
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "number"), [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("hup", 1), ("RTMIN+2", 36)]
)
def test_signals(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "65", "SIGNOPE", ""])
def test_bad_signals(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(text)


def test_update_flags_become_resources() -> None:
    got = resources_from_flags({"memory": "1048576", "pids-limit": "10", "cpuset-cpus": "0-1"})
    assert got == {"memory": {"limit": 1048576}, "pids": {"limit": 10}, "cpu": {"cpus": "0-1"}}


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_takes_help(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "kill", "state"):
        assert main(["--root", "/nonexistent-berth-root", command, flag]) == 0
        assert capsys.readouterr().out.startswith(f"usage: berth-runtime {command}")


def test_rootless_takes_true_false_or_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rootless", "maybe", "list"]) == 1
    assert "--rootless 'maybe': expected true, false or auto" in capsys.readouterr().err
