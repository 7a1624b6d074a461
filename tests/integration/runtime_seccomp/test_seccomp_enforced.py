"""Compiled filters installed in real processes: rules deny, arguments are compared, allow-lists run."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.linux.seccomp import CompiledFilter, compile_filter

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(60),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="uses x86_64's seccomp(2) number"),
]

_SYS_SECCOMP = 317  # x86_64
_SECCOMP_SET_MODE_FILTER = 1
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install(compiled: CompiledFilter) -> None:
    buf = ctypes.create_string_buffer(compiled.program, len(compiled.program))
    prog = _SockFprog(compiled.instructions, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, compiled.flags, ctypes.byref(prog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")


def in_filtered_child(compiled: CompiledFilter, work: Callable[[], object]) -> tuple[str, int]:
    """Fork; the child installs the filter, runs ``work`` and reports its result; returns (result,
    wait status)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(r)
            _install(compiled)
            result = repr(work())
        except OSError as err:
            result = f"OSError {errno.errorcode.get(err.errno or 0, err.errno)}"
        except BaseException as err:
            result, code = f"error {err!r}", 1
        try:
            os.write(w, result.encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        out = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    return out, status


def test_a_rule_denies_mkdir_with_eperm_or_the_configured_errno(tmp_path: Path) -> None:
    rule = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
    denied = compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    assert in_filtered_child(denied, lambda: os.mkdir(tmp_path / "a")) == ("OSError EPERM", 0)
    exdev = compile_filter(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**rule, "errnoRet": errno.EXDEV}]}
    )
    assert in_filtered_child(exdev, lambda: os.mkdir(tmp_path / "b")) == ("OSError EXDEV", 0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # Without the filter the same call works: the denial came from the rule.
    assert (
        in_filtered_child(
            compile_filter({"defaultAction": "SCMP_ACT_ALLOW"}), lambda: os.mkdir(tmp_path / "c")
        )[0]
        == "None"
    )


def _personality(persona: int) -> str:
    rc = _libc.personality(ctypes.c_ulong(persona))
    return f"errno {errno.errorcode[ctypes.get_errno()]}" if rc == -1 else "ok"


def test_an_argument_filter_denies_personality_0xffffffff_but_allows_others() -> None:
    compiled = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}],
                }
            ],
        }
    )
    assert in_filtered_child(compiled, lambda: _personality(0xFFFFFFFF)) == ("'errno EPERM'", 0)
    assert in_filtered_child(compiled, lambda: _personality(0)) == ("'ok'", 0)


def test_masked_eq_and_two_conditions_on_one_argument() -> None:
    # umask(mode) with the group-write bit set is denied; two EQ tests on one argument are ORed.
    compiled = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["umask"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": 1,
                    "args": [{"index": 0, "value": 0o020, "valueTwo": 0o020, "op": "SCMP_CMP_MASKED_EQ"}],
                },
                {
                    "names": ["setpgid"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno.ESRCH,
                    "args": [
                        {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
                    ],
                },
            ],
        }
    )

    def probe() -> list[int]:
        out = []
        for mode in (0o022, 0o002):
            out.append(_libc.umask(mode))  # the raw return value: -EPERM shows as -1 via libc
        for pgid in (7, 9, 0):
            out.append(_libc.setpgid(0, pgid) and ctypes.get_errno())
        return out

    result, status = in_filtered_child(compiled, probe)
    assert status == 0
    umask_denied, umask_allowed, *setpgid = json.loads(result)
    assert umask_denied == -1 and umask_allowed != -1
    assert setpgid[:2] == [errno.ESRCH, errno.ESRCH] and setpgid[2] != errno.ESRCH


def test_kill_process_action_kills_with_sigsys() -> None:
    compiled = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}],
        }
    )
    out, status = in_filtered_child(compiled, os.getppid)
    assert out == "" and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def _exec_busybox(*argv: str) -> Callable[[], object]:
    def run() -> object:
        os.dup2(os.open("/dev/null", os.O_WRONLY), 2)
        os.execv("/bin/busybox", ["busybox", *argv])

    return run


def _run_busybox(compiled: CompiledFilter, *argv: str) -> int:
    # execv replaces the child, so the exit status is the program's.
    _, status = in_filtered_child(compiled, _exec_busybox(*argv))
    assert os.WIFEXITED(status), status
    return os.WEXITSTATUS(status)


def test_default_errno_with_an_allow_list_lets_a_simple_program_run(tmp_path: Path) -> None:
    # podman's allow-list (containers-common) minus mkdir: everything else a shell applet needs.
    profile = Path("/usr/share/containers/seccomp.json")
    if not profile.exists():
        pytest.skip("containers-common's seccomp.json is not installed")
    rules = json.loads(profile.read_text())["syscalls"]
    plain_allows = [r for r in rules if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")]
    allowed = sorted({name for rule in plain_allows for name in rule["names"]} - {"mkdir", "mkdirat"})
    seccomp: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }
    compiled = compile_filter(seccomp)
    assert _run_busybox(compiled, "true") == 0
    assert _run_busybox(compiled, "touch", str(tmp_path / "file")) == 0
    assert _run_busybox(compiled, "mkdir", str(tmp_path / "dir")) != 0
    assert (tmp_path / "file").exists() and not (tmp_path / "dir").exists()


def test_the_kernel_accepts_the_log_flag() -> None:
    compiled = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        }
    )
    assert in_filtered_child(compiled, os.getpid)[1] == 0


_NR_SYSINFO = 99  # x86_64, below getrandom (318)
_NR_PAST_THE_PROFILE = 450  # x86_64 set_mempolicy_home_node (Linux 5.17), above anything listed


def test_syscalls_newer_than_the_profile_get_enosys_and_older_unlisted_ones_the_default() -> None:
    compiled = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {
                    "names": [
                        "read", "write", "close", "mmap", "munmap", "mprotect", "madvise", "brk",
                        "rt_sigaction", "rt_sigprocmask", "futex", "exit", "exit_group", "getrandom",
                    ],
                    "action": "SCMP_ACT_ALLOW",
                }
            ],
        }
    )  # fmt: skip

    def probe() -> list[str]:
        out = []
        for nr in (_NR_PAST_THE_PROFILE, _NR_SYSINFO):
            rc = _libc.syscall(nr, 0, 0, 0)
            out.append(errno.errorcode[ctypes.get_errno()] if rc == -1 else "ok")
        return out

    assert in_filtered_child(compiled, probe) == ("['ENOSYS', 'EPERM']", 0)
