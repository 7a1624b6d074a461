"""Device rules as an eBPF program for cgroup v2 (BPF_PROG_TYPE_CGROUP_DEVICE).

cgroup v2 has no devices.allow: the kernel asks a program attached to the cgroup
(BPF_CGROUP_DEVICE) about every open and mknod of a device node, passing
``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}`` with the device type in the
low 16 bits of access_type and the access bits in the high ones. This module only builds the
program (pure bytes); loading and attaching it are bpf(2) calls, which the runtime's syscall module
makes.

The rules are checked last to first, so the last matching rule decides (the spec's order); a
device no rule matches is allowed, as in a v1 cgroup below the root (a config normally starts with
a deny-all rule).
"""

from __future__ import annotations

import struct

from berth.runtime.linux.cgroups.devices import DeviceRule

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Sequence

#: License string for BPF_PROG_LOAD (no GPL-only helpers are used).
LICENSE = b"Apache-2.0"

_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# eBPF opcodes (linux/bpf.h, linux/bpf_common.h)
_LDX_MEM_W = 0x61
_MOV64_X = 0xBF
_MOV64_K = 0xB7
_AND64_K = 0x57
_RSH64_K = 0x77
_JMP32_JNE_K = 0x56  # 32-bit compare: device numbers are u32, immediates are sign-extended s32
_EXIT = 0x95
# Registers: r1 = ctx (then scratch), r2 = access, r3 = type, r4 = major, r5 = minor, r0 = verdict.


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    # struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm;}, little-endian bit-fields
    if imm >= 2**31:
        imm -= 2**32
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def _block(rule: DeviceRule) -> list[bytes]:
    """Instructions that return the rule's verdict when the device matches, else fall through."""
    # Each step is either plain instructions or a (register, value) test that leaves the block
    # when the register differs.
    steps: list[list[bytes] | tuple[int, int]] = []
    if rule.type != "a":  # "a" is every device and every access, as on v1
        steps.append((3, _TYPE[rule.type]))
        missing = 7 & ~sum(_ACCESS[c] for c in rule.access)
        if missing:  # does the request ask for an access this rule does not cover?
            steps.append([_insn(_MOV64_X, 1, 2), _insn(_AND64_K, 1, imm=missing)])
            steps.append((1, 0))
        if rule.major is not None:
            steps.append((4, rule.major))
        if rule.minor is not None:
            steps.append((5, rule.minor))
    verdict = [_insn(_MOV64_K, 0, imm=int(rule.allow)), _insn(_EXIT)]
    size = sum(1 if isinstance(step, tuple) else len(step) for step in steps) + len(verdict)
    out: list[bytes] = []
    for step in steps:
        if isinstance(step, tuple):
            reg, value = step
            out.append(_insn(_JMP32_JNE_K, reg, off=size - len(out) - 1, imm=value))
        else:
            out.extend(step)
    return out + verdict


def program(rules: Sequence[DeviceRule]) -> bytes:
    """The eBPF program (raw ``struct bpf_insn`` array) enforcing ``rules``."""
    insns = [
        _insn(_LDX_MEM_W, 2, 1, 0),  # r2 = access_type
        _insn(_MOV64_X, 3, 2),
        _insn(_AND64_K, 3, imm=0xFFFF),  # r3 = device type
        _insn(_RSH64_K, 2, imm=16),  # r2 = requested access
        _insn(_LDX_MEM_W, 4, 1, 4),  # r4 = major
        _insn(_LDX_MEM_W, 5, 1, 8),  # r5 = minor
    ]
    for rule in reversed(rules):
        insns += _block(rule)
        if rule.type == "a":
            # Matches everything: what follows could never run, and the verifier refuses dead code.
            return b"".join(insns)
    insns += [_insn(_MOV64_K, 0, imm=1), _insn(_EXIT)]
    return b"".join(insns)
