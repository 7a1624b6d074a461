"""The cgroup v2 device program: instruction layout and jump targets (enforcement: integration)."""

from __future__ import annotations

import struct

from berth.runtime.linux.cgroups.devices import parse_rules
from berth.runtime.linux.cgroups.devices_bpf import program

EXIT, MOV64_K, JNE32_K = 0x95, 0xB7, 0x56


def decode(prog: bytes) -> list[tuple[int, int, int, int, int]]:
    """(code, dst, src, off, imm) per struct bpf_insn."""
    out = []
    for pos in range(0, len(prog), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", prog, pos)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def verdicts(prog: bytes) -> list[int]:
    insns = decode(prog)
    return [
        imm
        for i, (code, dst, _s, _o, imm) in enumerate(insns[:-1])
        if code == MOV64_K and dst == 0 and insns[i + 1][0] == EXIT
    ]


def test_rules_are_checked_last_first_and_unmatched_devices_are_allowed() -> None:
    rules = parse_rules(
        [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    )
    prog = program(rules)
    # The allow block (checked first), then deny-all, which ends the program: the verifier refuses
    # code that cannot run.
    assert verdicts(prog) == [1, 0]
    assert decode(prog)[-1][0] == EXIT and decode(prog)[-2][4] == 0
    # Without a catch-all rule, a device no rule matches is allowed.
    assert verdicts(program(parse_rules([{"allow": False, "type": "c", "major": 1}]))) == [0, 1]


def test_every_not_equal_jump_lands_just_past_its_block() -> None:
    rules = parse_rules(
        [{"allow": True, "type": "b", "major": 8, "access": "r"}, {"allow": False, "type": "c", "minor": 5}]
    )
    insns = decode(program(rules))
    exits = [i for i, insn in enumerate(insns) if insn[0] == EXIT]
    for i, (code, _dst, _src, off, _imm) in enumerate(insns):
        if code == JNE32_K:
            target = i + 1 + off
            assert target - 1 in exits  # the instruction before the target is a block's exit
            assert target > i


def test_device_numbers_above_2_31_survive_the_signed_immediate() -> None:
    (block_test,) = [
        i
        for i in decode(program(parse_rules([{"allow": True, "type": "c", "major": 2**32 - 1}])))
        if i[0] == JNE32_K and i[1] == 4
    ]
    assert block_test[4] & 0xFFFFFFFF == 2**32 - 1
