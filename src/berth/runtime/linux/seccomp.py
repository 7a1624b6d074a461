"""Seccomp filters from runtime-spec ``linux.seccomp`` (config-linux.md#seccomp), compiled by libseccomp.

``compile_filter`` builds the filter with libseccomp (through ctypes, no Python dependency) and
exports the classic BPF program libseccomp would load, so the runtime can install it itself with
seccomp(SECCOMP_SET_MODE_FILTER) at the last moment before exec. libseccomp owns the hard parts: the
syscall tables of every architecture, the ``seccomp_data.arch`` checks (listed architectures get the
profile, any other is killed, libseccomp's default), x32's syscall-number bit, and 64-bit argument
comparisons on 32-bit ABIs.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from _collections_abc import Mapping  # collections.abc would import collections (~2 ms)

from berth.errors import BerthError, InvalidArgument, Unsupported
from berth.runtime.linux.seccomp_cache import LIBRARY

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# seccomp(2) filter flags a config may ask for (linux/seccomp.h).
_FLAGS = {
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
}
# TSYNC synchronises sibling threads; the runtime installs the filter single-threaded (as runc says
# for ignoring it). WAIT_KILLABLE_RECV only means something with SCMP_ACT_NOTIFY.
_IGNORED_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC"}
_NOTIFY_FLAGS = {"SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}

# libseccomp's action values (seccomp.h), with the data bits that ERRNO and TRACE carry.
_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_WITH_DATA = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}

# enum scmp_compare
_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_MAX_ARGS = 6
_UINT64_MAX = 2**64 - 1
_NR_SCMP_ERROR = -1


class CompiledFilter:
    """A seccomp program ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog).

    (A plain class: importing dataclasses or typing costs the start path milliseconds.)
    """

    __slots__ = ("flags", "program")

    def __init__(self, program: bytes, flags: int) -> None:
        self.program = program  # raw array of struct sock_filter (8 bytes each)
        self.flags = flags  # SECCOMP_FILTER_FLAG_* bits

    @property
    def instructions(self) -> int:
        """Number of BPF instructions (``sock_fprog.len``)."""
        return len(self.program) // 8

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledFilter) and (self.program, self.flags) == (
            other.program,
            other.flags,
        )

    def __hash__(self) -> int:
        return hash((self.program, self.flags))

    def __repr__(self) -> str:
        return f"CompiledFilter({self.instructions} instructions, flags={self.flags:#x})"


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@functools.cache
def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError:
        raise Unsupported(f"linux.seccomp: {LIBRARY} is not installed (Debian: libseccomp2)") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _action(name: object, errno_ret: object, field: str, default_errno: int = errno.EPERM) -> int:
    """libseccomp action value for ``name``; ERRNO and TRACE carry ``errnoRet`` (EPERM if unset)."""
    if name == "SCMP_ACT_NOTIFY":
        raise Unsupported(f"linux.seccomp.{field}: SCMP_ACT_NOTIFY (a user-space listener) is not supported")
    if not isinstance(name, str) or name not in _ACTIONS:
        raise InvalidArgument(f"linux.seccomp.{field}: unknown action {name!r}")
    if name not in _WITH_DATA:
        return _ACTIONS[name]
    if errno_ret is None:
        errno_ret = default_errno
    if isinstance(errno_ret, bool) or not isinstance(errno_ret, int) or not 0 <= errno_ret <= 0xFFFF:
        raise InvalidArgument(f"linux.seccomp.{field}: errnoRet {errno_ret!r} is not in 0..65535")
    return _ACTIONS[name] | errno_ret


def _flags(names: object) -> int:
    if names is None:
        return 0
    if not isinstance(names, list):
        raise InvalidArgument("linux.seccomp.flags: must be an array of strings")
    bits = 0
    for name in names:
        if name in _IGNORED_FLAGS:
            continue
        if name in _NOTIFY_FLAGS:
            raise Unsupported(f"linux.seccomp.flags: {name} needs SCMP_ACT_NOTIFY, which is not supported")
        if name not in _FLAGS:
            raise InvalidArgument(f"linux.seccomp.flags: unknown flag {name!r}")
        bits |= _FLAGS[name]
    return bits


def _conditions(args: object, field: str) -> list[list[_ArgCmp]]:
    """The argument comparisons of one syscall entry, grouped into rules.

    Comparisons on distinct arguments all have to hold (one rule); when one argument is compared
    twice libseccomp cannot AND them, so, as runc does, each comparison becomes a rule of its own.
    """
    if not args:
        return [[]]
    if not isinstance(args, list):
        raise InvalidArgument(f"linux.seccomp.{field}.args: must be an array")
    conds = []
    for i, arg in enumerate(args):
        where = f"{field}.args[{i}]"
        if not isinstance(arg, Mapping):
            raise InvalidArgument(f"linux.seccomp.{where}: must be an object")
        index, op = arg.get("index"), arg.get("op")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < _MAX_ARGS:
            raise InvalidArgument(f"linux.seccomp.{where}.index: {index!r} is not in 0..5")
        if op not in _OPS:
            raise InvalidArgument(f"linux.seccomp.{where}.op: unknown operator {op!r}")
        values = []
        for key in ("value", "valueTwo"):
            v = arg.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _UINT64_MAX:
                raise InvalidArgument(f"linux.seccomp.{where}.{key}: {v!r} is not an unsigned 64-bit value")
            values.append(v)
        conds.append(_ArgCmp(index, _OPS[str(op)], values[0], values[1]))
    indexes = [c.arg for c in conds]
    if len(set(indexes)) == len(indexes):
        return [conds]
    return [[c] for c in conds]


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise BerthError(f"linux.seccomp: libseccomp could not {what}: {os.strerror(-rc)}")


def _architectures(lib: ctypes.CDLL, ctx: int, names: object) -> list[int]:
    """Add the listed architectures to the filter; returns their libseccomp tokens."""
    if names is None:
        return []
    if not isinstance(names, list):
        raise InvalidArgument("linux.seccomp.architectures: must be an array of strings")
    tokens: list[int] = []
    for name in names:
        # SCMP_ARCH_X86_64 -> "x86_64", SCMP_ARCH_MIPSEL64N32 -> "mipsel64n32": libseccomp's names.
        token = lib.seccomp_arch_resolve_name(str(name).removeprefix("SCMP_ARCH_").lower().encode())
        if not isinstance(name, str) or not name.startswith("SCMP_ARCH_") or token == 0:
            raise InvalidArgument(f"linux.seccomp.architectures: unknown architecture {name!r}")
        rc = lib.seccomp_arch_add(ctx, token)
        if rc != -errno.EEXIST:  # the native architecture is always in the filter
            _check(rc, f"add architecture {name}")
        tokens.append(token)
    return tokens


def _add_syscalls(lib: ctypes.CDLL, ctx: int, syscalls: Sequence[Any], default: int) -> None:
    for i, entry in enumerate(syscalls):
        field = f"syscalls[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidArgument(f"linux.seccomp.{field}: must be an object")
        names = entry.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise InvalidArgument(f"linux.seccomp.{field}.names: must be a non-empty array of strings")
        action = _action(entry.get("action"), entry.get("errnoRet"), f"{field}.action")
        rules = _conditions(entry.get("args"), field)
        if action == default:
            continue  # libseccomp refuses a rule that repeats the default (runc skips it too)
        for name in names:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number == _NR_SCMP_ERROR:
                continue  # runc: a name this architecture does not know is ignored
            for conds in rules:
                array = (_ArgCmp * len(conds))(*conds)
                rc = lib.seccomp_rule_add_array(ctx, action, number, len(conds), array)
                _check(rc, f"add the rule for {name} ({field})")


def compile_filter(seccomp: Mapping[str, Any]) -> CompiledFilter:
    """Compile ``linux.seccomp`` into a BPF program and seccomp(2) flags.

    Raises ``InvalidArgument`` naming the field for an unknown action, operator, architecture or
    flag, and ``Unsupported`` for SCMP_ACT_NOTIFY. (The runtime keeps what it compiled:
    ``berth.runtime.process.compile_seccomp``.)
    """
    default = _action(
        seccomp.get("defaultAction"),
        seccomp.get("defaultErrnoRet"),
        "defaultAction",
        default_errno=errno.EPERM,
    )
    flags = _flags(seccomp.get("flags"))
    syscalls = seccomp.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise InvalidArgument("linux.seccomp.syscalls: must be an array")
    lib = _lib()
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise BerthError("linux.seccomp: libseccomp could not create a filter")
    try:
        tokens = _architectures(lib, ctx, seccomp.get("architectures"))
        _add_syscalls(lib, ctx, syscalls, default)
        program = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    if not _permissive(default) and tokens:
        from berth.runtime.linux import seccomp_enosys

        program = seccomp_enosys.prologue(_highest_syscalls(lib, tokens, syscalls)) + program
    return CompiledFilter(program, flags)


def _permissive(default: int) -> bool:
    """Defaults under which a syscall the profile does not know already works (runc: Allow, Log and
    Trace, as a tracer handles new syscalls itself); any other default gets the -ENOSYS prologue."""
    trace = _ACTIONS["SCMP_ACT_TRACE"]
    return default in (_ACTIONS["SCMP_ACT_ALLOW"], _ACTIONS["SCMP_ACT_LOG"]) or default & ~0xFFFF == trace


def _highest_syscalls(lib: ctypes.CDLL, tokens: list[int], syscalls: Sequence[Any]) -> dict[int, int]:
    """The highest syscall number the profile names, per listed architecture (runc's rule)."""
    names = {name.encode() for entry in syscalls for name in entry["names"]}
    highest = {}
    for token in tokens:
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, name) for name in names]
        known = [nr for nr in numbers if nr >= 0]  # negative: unknown here, or a multiplexed pseudo-call
        if known:
            highest[token] = max(known)
    return highest


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("berth-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "export the BPF program")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
