"""Bad input fails with one line and exit status 125, and leaves nothing behind."""

from __future__ import annotations

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--memory", "lots"], "invalid --memory"),
        (["--pids-limit", "many"], "invalid --pids-limit"),
        (["--cpus", "fast"], "invalid --cpus"),
        (["--tmpfs", "relative"], "invalid --tmpfs"),
        (["-e", "=novalue"], "invalid environment variable"),
        (["-p", "99999:80"], "invalid port"),
        (["-v", "relative:dir"], "not an absolute path"),
        (["-v", "/no/such/host/dir:/x"], "does not exist"),
        (["--cap-add", "CAP_NOPE"], "unknown capability"),
        (["--security-opt", "apparmor=x"], "invalid --security-opt"),
        (["-u", "ghost"], "unable to find user ghost"),
        (["--network", "berth-missing"], "no such network"),
        (["--name", "bad name!"], "invalid container name"),
        (["--runtime", "/no/runtime"], "not an executable"),
    ],
)
def test_malformed_flags(berth: Berth, flags: list[str], message: str) -> None:
    out = berth.run("--rm", *flags, "--", "true", check=False)
    assert out.returncode == 125, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr
    assert berth("ps", "-a", "-q").stdout == "" and berth("volume", "ls", "-q").stdout == ""


def test_name_already_in_use(berth: Berth) -> None:
    berth.run("--name", "dup", "--network", "none", "--", "true")
    again = berth.run("--name", "dup", "--network", "none", "--", "true", check=False)
    assert again.returncode == 125 and "already in use" in again.stderr
    assert len(berth("ps", "-a", "-q").stdout.split()) == 1


def test_unknown_container(berth: Berth) -> None:
    for verb in ("stop", "rm", "inspect", "logs", "wait"):
        out = berth(verb, "nosuchthing", check=False)
        assert out.returncode == 125 and out.stderr.strip() == "berth: no such container: nosuchthing"
