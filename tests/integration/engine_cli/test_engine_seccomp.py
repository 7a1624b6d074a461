"""The default seccomp allow list seen from inside a container, and the flags that replace it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)

# The EPERM text is busybox's (strerror); ENOSYS would read "Function not implemented".
UNSHARE = "unshare -m true 2>&1; echo rc=$?"
MOUNT = "mount -t tmpfs none /tmp 2>&1; echo rc=$?"


def _sh(berth: Berth, *flags: str, script: str) -> str:
    return berth.run("--rm", "--network", "none", *flags, "--", "sh", "-c", script).stdout


def test_busybox_workload_runs_under_the_default_profile(berth: Berth) -> None:
    script = (
        "ls /bin >/dev/null && cat /etc/passwd >/dev/null && sleep 0.1 && ps >/dev/null"
        " && { nc -l -p 5555 >/tmp/got & }"
        " && for i in $(seq 100); do echo hi | nc 127.0.0.1 5555 2>/dev/null && break; sleep 0.05; done"
        " ; wait; cat /tmp/got; date >/dev/null; id -u; grep Seccomp: /proc/self/status"
    )
    out = _sh(berth, script=script)
    assert out.splitlines() == ["hi", "0", "Seccomp:\t2"]


def test_namespace_and_mount_calls_need_sys_admin(berth: Berth) -> None:
    refused = _sh(berth, script=f"{UNSHARE}; {MOUNT}")
    # busybox's words for EPERM: strerror from unshare, its own from mount
    assert refused == (
        "unshare: unshare(0x20000): Operation not permitted\nrc=1\n"
        "mount: permission denied (are you root?)\nrc=1\n"
    )
    allowed = _sh(berth, "--cap-add", "SYS_ADMIN", script=f"{UNSHARE}; {MOUNT}")
    assert allowed == "rc=0\nrc=0\n"


def test_user_namespace_refused_by_the_profile_not_the_kernel(berth: Berth) -> None:
    # A new user namespace needs no capability, so only seccomp refuses it.
    script = "unshare -U true 2>&1; echo rc=$?"
    assert _sh(berth, script=script) == "unshare: unshare(0x10000000): Operation not permitted\nrc=1\n"
    assert _sh(berth, "--security-opt", "seccomp=unconfined", script=script) == "rc=0\n"


def test_unconfined_and_privileged_have_no_filter(berth: Berth) -> None:
    for flags in (("--security-opt", "seccomp=unconfined"), ("--privileged",)):
        assert _sh(berth, *flags, script="grep Seccomp: /proc/self/status") == "Seccomp:\t0\n"


def test_custom_profile_file(berth: Berth, tmp_path: Path) -> None:
    # Allow everything but mkdir and mkdirat, which fail with EACCES (13).
    profile = tmp_path / "profile.json"
    rule = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}))
    script = "mkdir /tmp/d 2>&1; echo rc=$?; unshare -U true; echo rc=$?"
    out = _sh(berth, "--security-opt", f"seccomp={profile}", script=script)
    # the file replaced the default profile: mkdir refused, a user namespace allowed
    assert out == "mkdir: can't create directory '/tmp/d': Permission denied\nrc=1\nrc=0\n"
