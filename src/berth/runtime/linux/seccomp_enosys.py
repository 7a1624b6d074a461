"""An -ENOSYS prologue for seccomp programs, as runc adds one (libcontainer/seccomp/patchbpf).

A profile written before a syscall existed denies it with the default action, typically EPERM; but
libc only falls back to an older syscall on ENOSYS (clone3 -> clone, faccessat2 -> faccessat), so
programs break on newer kernels. The prologue answers ENOSYS for any syscall numbered above the
highest one the profile names on that architecture, and hands everything else to the real filter.
It is classic BPF prepended to libseccomp's program: libseccomp's own jumps are relative, so they
are unaffected.
"""

from __future__ import annotations

import errno
import struct

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping

AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token for x32, whose calls the kernel reports as x86_64
X32_SYSCALL_BIT = 0x40000000
_RET_ERRNO = 0x00050000

# cBPF opcodes (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x20  # A = *(u32 *)(seccomp_data + k)
_JMP_JA = 0x05
_JMP_JEQ_K = 0x15
_JMP_JGT_K = 0x25
_JMP_JSET_K = 0x45
_RET_K = 0x06
_OFF_NR, _OFF_ARCH = 0, 4

# An instruction: (code, k, jump-if-true label, jump-if-false label); labels are resolved at the end.
_Insn = tuple[int, int, str | None, str | None]


class _Assembler:
    """Straight-line cBPF with named labels; conditional jumps must stay within 255 instructions."""

    def __init__(self) -> None:
        self.insns: list[_Insn] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.insns)

    def emit(self, code: int, k: int = 0, jt: str | None = None, jf: str | None = None) -> None:
        self.insns.append((code, k, jt, jf))

    def assemble(self, tail: str) -> bytes:
        """The program; jumps to ``tail`` land just past the last instruction."""
        self.labels[tail] = len(self.insns)
        out = bytearray()
        for i, (code, k, jt, jf) in enumerate(self.insns):
            t = self.labels[jt] - i - 1 if jt else 0
            f = self.labels[jf] - i - 1 if jf else 0
            if code == _JMP_JA:
                k, t = t, 0
            elif not (0 <= t <= 255 and 0 <= f <= 255):
                raise ValueError("conditional jump out of range")  # sections are a few instructions
            out += struct.pack("=HBBI", code, t, f, k & 0xFFFFFFFF)
        return bytes(out)


def _check_max(asm: _Assembler, highest: int) -> None:
    # nr > highest: ENOSYS; else on to the filter.
    asm.emit(_JMP_JGT_K, highest, jt="enosys", jf="filter_jump")


def prologue(highest: Mapping[int, int]) -> bytes:
    """cBPF to put before a filter, given the highest syscall number the profile names per libseccomp
    architecture token (x32's numbers carry X32_SYSCALL_BIT and share x86_64's AUDIT_ARCH)."""
    natives: dict[int, dict[str, int]] = {}
    for token, nr in highest.items():
        if token == SCMP_ARCH_X32:
            natives.setdefault(AUDIT_ARCH_X86_64, {})["x32"] = nr
        else:
            natives.setdefault(token, {})["native"] = nr
    asm = _Assembler()
    asm.emit(_LD_W_ABS, _OFF_ARCH)
    for arch in natives:
        asm.emit(_JMP_JEQ_K, arch, jt=f"arch_{arch:x}")
    asm.emit(_JMP_JA, jt="filter")  # an architecture the profile does not list: the filter decides
    for arch, modes in natives.items():
        asm.label(f"arch_{arch:x}")
        asm.emit(_LD_W_ABS, _OFF_NR)
        if arch == AUDIT_ARCH_X86_64:
            # x86_64 and x32 share the AUDIT_ARCH; x32 calls carry X32_SYSCALL_BIT in the number.
            asm.emit(_JMP_JSET_K, X32_SYSCALL_BIT, jt="x32" if "x32" in modes else "filter_jump")
        if "native" in modes:
            _check_max(asm, modes["native"])
        else:
            asm.emit(_JMP_JA, jt="filter")
        if "x32" in modes:
            asm.label("x32")
            _check_max(asm, modes["x32"])
    asm.label("filter_jump")
    asm.emit(_JMP_JA, jt="filter")
    asm.label("enosys")
    asm.emit(_RET_K, _RET_ERRNO | errno.ENOSYS)
    return asm.assemble("filter")
