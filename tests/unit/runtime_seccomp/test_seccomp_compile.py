"""Compiling linux.seccomp: the program's shape, flags, and one clear error per bad field."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from berth.errors import InvalidArgument, Unsupported
from berth.runtime.linux.seccomp import compile_filter

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
BPF_RET_K = 0x06
BPF_JEQ_K = 0x15


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """struct sock_filter {u16 code; u8 jt; u8 jf; u32 k;} in native byte order."""
    return [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]


def returns(program: bytes) -> set[int]:
    return {k for code, _jt, _jf, k in instructions(program) if code == BPF_RET_K}


def compared(program: bytes) -> set[int]:
    return {k for code, _jt, _jf, k in instructions(program) if code == BPF_JEQ_K}


def deny_mkdir(**extra: Any) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", **extra}],
    }


def test_program_is_whole_sock_filters_starting_with_the_arch_check() -> None:
    compiled = compile_filter(deny_mkdir())
    assert len(compiled.program) % 8 == 0 and compiled.instructions == len(compiled.program) // 8
    code, _jt, _jf, k = instructions(compiled.program)[0]
    assert (code, k) == (0x20, 4)  # BPF_LD|BPF_W|BPF_ABS of seccomp_data.arch
    assert AUDIT_ARCH_X86_64 in compared(compiled.program)
    assert compiled.flags == 0


def test_actions_and_errno_values_appear_as_return_values() -> None:
    program = compile_filter(deny_mkdir(errnoRet=18)).program
    assert {0x7FFF0000, 0x00050000 | 18} <= returns(program)
    assert 0x00050000 | 1 in returns(compile_filter(deny_mkdir()).program)  # EPERM when errnoRet is unset
    default = compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}).program
    assert 0x00050000 | 38 in returns(default)


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("SCMP_ACT_KILL", 0),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_KILL_THREAD", 0),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_TRACE", 0x7FF00001),
        ("SCMP_ACT_LOG", 0x7FFC0000),
    ],
)
def test_each_action(action: str, value: int) -> None:
    program = compile_filter(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": action}]}
    )
    assert value in returns(program.program)


def test_listed_architectures_are_all_checked() -> None:
    native = compile_filter(deny_mkdir())
    multi = compile_filter(
        {**deny_mkdir(), "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
    )
    assert AUDIT_ARCH_I386 in compared(multi.program) and AUDIT_ARCH_I386 not in compared(native.program)
    assert multi.instructions > native.instructions
    compile_filter({**deny_mkdir(), "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]})


def test_names_the_architecture_does_not_know_are_ignored() -> None:
    plain = compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    unknown = {"names": ["no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"}
    assert compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [unknown]}) == plain


def test_a_rule_repeating_the_default_is_skipped() -> None:
    plain = compile_filter({"defaultAction": "SCMP_ACT_ALLOW"})
    assert (
        compile_filter(
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
        )
        == plain
    )


def test_argument_comparisons_add_instructions() -> None:
    args = [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}]
    plain = compile_filter(deny_mkdir())
    filtered = compile_filter(deny_mkdir(args=args))
    assert filtered.instructions > plain.instructions
    for op in ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GE", "SCMP_CMP_GT"):
        compile_filter(deny_mkdir(args=[{"index": 1, "value": 2**64 - 1, "op": op}]))
    masked = [{"index": 2, "value": 0o7000, "valueTwo": 0o1000, "op": "SCMP_CMP_MASKED_EQ"}]
    assert compile_filter(deny_mkdir(args=masked)).instructions > plain.instructions
    same_arg_twice = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
    ]
    compile_filter(deny_mkdir(args=same_arg_twice))


def test_flags() -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert compile_filter({**seccomp, "flags": ["SECCOMP_FILTER_FLAG_LOG"]}).flags == 2
    assert (
        compile_filter(
            {**seccomp, "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]}
        ).flags
        == 6
    )
    assert compile_filter({**seccomp, "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}).flags == 0


@pytest.mark.parametrize(
    ("seccomp", "error", "message"),
    [
        (
            {"defaultAction": "SCMP_ACT_NOPE"},
            InvalidArgument,
            r"linux\.seccomp\.defaultAction: unknown action",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "KILL"}]},
            InvalidArgument,
            r"syscalls\[0\]\.action: unknown action",
        ),
        (
            deny_mkdir(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]),
            InvalidArgument,
            r"syscalls\[0\]\.args\[0\]\.op: unknown operator",
        ),
        (
            deny_mkdir(args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]),
            InvalidArgument,
            r"args\[0\]\.index: 6",
        ),
        (
            deny_mkdir(args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]),
            InvalidArgument,
            r"args\[0\]\.value: -1",
        ),
        (deny_mkdir(errnoRet=70000), InvalidArgument, r"syscalls\[0\]\.action: errnoRet 70000"),
        (
            {**deny_mkdir(), "architectures": ["SCMP_ARCH_Z80"]},
            InvalidArgument,
            r"architectures: unknown architecture 'SCMP_ARCH_Z80'",
        ),
        ({**deny_mkdir(), "flags": ["SECCOMP_FILTER_FLAG_FAST"]}, InvalidArgument, r"flags: unknown flag"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
            InvalidArgument,
            r"syscalls\[0\]\.names",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}],
            },
            Unsupported,
            r"SCMP_ACT_NOTIFY",
        ),
    ],
)
def test_errors_are_one_line_naming_the_field(
    seccomp: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(
        error, match=r"^linux\.seccomp\..*" + message if not message.startswith("linux") else message
    ) as info:
        compile_filter(seccomp)
    assert "\n" not in str(info.value)


ENOSYS_RET = 0x00050000 | 38
X32_BIT = 0x40000000
BPF_JSET_K = 0x45


def test_an_enosys_prologue_guards_restrictive_defaults_on_listed_architectures() -> None:
    allow_list = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "write", "getrandom"], "action": "SCMP_ACT_ALLOW"}],
    }
    program = compile_filter(allow_list).program
    insns = instructions(program)
    assert ENOSYS_RET in returns(program)
    # x86_64: getrandom is 318; x32: 318 with the x32 bit; the two share an AUDIT_ARCH, split by jset.
    compared_max = {k for code, _jt, _jf, k in insns if code == 0x25}  # BPF_JGT_K
    assert {318, X32_BIT | 318} <= compared_max
    assert any(code == BPF_JSET_K and k == X32_BIT for code, _jt, _jf, k in insns)
    # The profile's own filter follows, unchanged.
    tail = compile_filter({**allow_list, "defaultAction": "SCMP_ACT_KILL"}).program
    assert ENOSYS_RET in returns(tail)


def test_no_prologue_for_permissive_defaults_or_without_architectures() -> None:
    for default in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"):
        program = compile_filter(
            {**deny_mkdir(), "defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"]}
        )
        assert ENOSYS_RET not in returns(program.program)
    unlisted = compile_filter(
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    )
    assert ENOSYS_RET not in returns(unlisted.program)
