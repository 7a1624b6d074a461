"""Default capabilities and seccomp profile, and the flags that change them, seen from inside."""

from __future__ import annotations

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def _sh(berth: Berth, *flags: str, script: str) -> str:
    return berth.run("--rm", "--network", "none", *flags, "--", "sh", "-c", script).stdout


MOUNT = "mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo refused"


def test_default_profile_refuses_mount_and_namespaces(berth: Berth) -> None:
    status = _sh(berth, script="grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status")
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t0" in status
    assert _sh(berth, script=MOUNT) == "refused\n"
    assert _sh(berth, script="unshare -n true 2>/dev/null && echo made || echo refused") == "refused\n"


def test_cap_add_sys_admin_and_privileged_allow_mount(berth: Berth) -> None:
    assert _sh(berth, "--cap-add", "SYS_ADMIN", script=MOUNT) == "mounted\n"
    assert _sh(berth, "--privileged", script=MOUNT) == "mounted\n"


def test_cap_drop(berth: Berth) -> None:
    script = "touch /tmp/f; chown 1000 /tmp/f 2>/dev/null && echo chowned || echo refused"
    assert _sh(berth, script=script) == "chowned\n"
    assert _sh(berth, "--cap-drop", "CHOWN", script=script) == "refused\n"


def test_security_opts(berth: Berth) -> None:
    assert "NoNewPrivs:\t1" in _sh(
        berth, "--security-opt", "no-new-privileges", script="cat /proc/self/status"
    )
    assert "Seccomp:\t0" in _sh(berth, "--security-opt", "seccomp=unconfined", script="cat /proc/self/status")


def test_pause_and_unpause(berth: Berth) -> None:
    berth.run("-d", "--name", "p", "--network", "none", "--", "sleep", "1000")
    berth("pause", "p")
    assert berth.inspect("p")["State"]["Paused"] is True
    berth("unpause", "p")
    assert berth.inspect("p")["State"]["Status"] == "running"
    berth("rm", "-f", "p")
