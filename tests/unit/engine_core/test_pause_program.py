"""Berth's pause program: its bytes are its assembly source's, and its ELF headers are well formed."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from berth.engine.images import pause
from berth.errors import BerthError

SOURCE = Path(pause.__file__).with_name("pause_x86_64.s")


@pytest.mark.skipif(shutil.which("as") is None or shutil.which("objcopy") is None, reason="needs binutils")
def test_program_bytes_are_the_assembled_source(tmp_path: Path) -> None:
    obj, text = tmp_path / "pause.o", tmp_path / "pause.bin"
    subprocess.run(["as", "--64", "-o", str(obj), str(SOURCE)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(text)], check=True)
    assert text.read_bytes() == pause.PROGRAM_X86_64


def test_executable_headers() -> None:
    elf = pause.pause_executable("x86_64")
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1  # ELF-64, little-endian
    e_type, e_machine, _version, entry, phoff = struct.unpack_from("<HHIQQ", elf, 16)
    phnum = struct.unpack_from("<H", elf, 56)[0]
    assert (e_type, e_machine, phoff, phnum) == (2, 62, 64, 2)
    p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = struct.unpack_from(
        "<IIQQQQQQ", elf, 64
    )
    assert (p_type, p_flags, p_offset) == (1, 5, 0)  # PT_LOAD, read and execute, the whole file
    assert p_filesz == p_memsz == len(elf)
    assert elf[entry - p_vaddr :] == pause.PROGRAM_X86_64


def test_other_machines_are_refused_with_advice() -> None:
    with pytest.raises(BerthError, match=r"no pause program for riscv64.*--infra-image"):
        pause.pause_executable("riscv64")
