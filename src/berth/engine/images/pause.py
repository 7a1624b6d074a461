"""Berth's pause image: the infra process of every pod, built here, never pulled.

The image holds one file, ``/pause``: a static ELF executable of about 300 bytes that Berth writes
itself (``pause_x86_64.s`` beside this module is its source). It blocks SIGINT, SIGTERM and
SIGCHLD and waits for them: SIGCHLD reaps whatever orphans a shared PID namespace hands it, the
other two end it with status 0. No libc, no shell: nothing in the image can be exec'd into.
"""

from __future__ import annotations

import platform
import struct

from berth import __version__
from berth.errors import BerthError, NotFound

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.engine.engine import Engine

#: The reference the pause image is stored under (podman's is ``localhost/podman-pause:VERSION``).
PAUSE_IMAGE = f"localhost/berth-pause:{__version__}"

#: The machine code of ``pause_x86_64.s`` (GNU as 2.40; ``tests/unit/engine_core`` reassembles it).
PROGRAM_X86_64 = bytes.fromhex(
    "6802400100b80e00000031ff4889e631d241ba080000000f05b8800000004889e731f631d241ba080000000f05"
    "83f811740c83f802742383f80f741eebdbb83d000000bfffffffff31f6ba010000004531d20f0585c07fe6ebbf"
    "b8e700000031ff0f05"
)

_LOAD_ADDRESS = 0x400000
_EM_X86_64 = 62
_PT_LOAD, _PT_GNU_STACK = 1, 0x6474E551
_PF_X, _PF_W, _PF_R = 1, 2, 4
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # ELF-64 object file format, "ELF Header"
_PHDR = struct.Struct("<IIQQQQQQ")  # ELF-64, "Program header table entry"


def pause_executable(machine: str | None = None) -> bytes:
    """The pause program as a static ELF-64 executable for ``machine`` (``platform.machine()``
    names; this host's by default): the ELF header, a program header that loads the whole file
    read and execute, one that asks for a stack without execute, then the code."""
    machine = machine or platform.machine()
    if machine not in ("x86_64", "amd64"):
        raise BerthError(
            f"Berth has no pause program for {machine}: give the pod an infra image (--infra-image)"
        )
    headers = _EHDR.size + 2 * _PHDR.size
    size = headers + len(PROGRAM_X86_64)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0])  # 64-bit, little-endian, version 1, System V ABI
    ehdr = _EHDR.pack(
        ident.ljust(16, b"\0"),
        2,  # ET_EXEC
        _EM_X86_64,
        1,  # EV_CURRENT
        _LOAD_ADDRESS + headers,  # e_entry: the first instruction
        _EHDR.size,  # e_phoff
        0,  # e_shoff: no section headers
        0,  # e_flags
        _EHDR.size,
        _PHDR.size,
        2,  # e_phnum
        64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    load = _PHDR.pack(_PT_LOAD, _PF_R | _PF_X, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, size, size, 0x1000)
    stack = _PHDR.pack(_PT_GNU_STACK, _PF_R | _PF_W, 0, 0, 0, 0, 0, 16)
    return ehdr + load + stack + PROGRAM_X86_64


def ensure_pause_image(engine: Engine) -> str:
    """The pause image's reference, building the image in the store first if it is missing.

    Two commands that build it at once are serialized by a lock; the second finds it made.
    """
    from berth.engine.images.store import images_root
    from berth.fsutil import locked, remove_tree
    from berth.image.images import ImageStore
    from berth.image.importer import import_image

    root = images_root(engine.config)
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / "pause.lock"):
        store = ImageStore(root)
        try:
            try:
                store.resolve(PAUSE_IMAGE)
                return PAUSE_IMAGE
            except NotFound:
                pass
            # Beside the store, not in /tmp: a build killed midway leaves it for the next one to
            # remove, under the lock that is then its own.
            scratch = root / "pause-build"
            remove_tree(scratch)
            scratch.mkdir()
            try:
                program = scratch / "pause"
                program.write_bytes(pause_executable())
                program.chmod(0o755)
                import_image(
                    store,
                    scratch,
                    PAUSE_IMAGE,
                    changes=['ENTRYPOINT ["/pause"]', "STOPSIGNAL SIGTERM"],
                    message="Berth's pause program",
                    source_name="pause",
                )
            finally:
                remove_tree(scratch)
        finally:
            store.close()
    return PAUSE_IMAGE
