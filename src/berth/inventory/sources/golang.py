"""Go modules compiled into executables: the build information the Go linker embeds (Go 1.18 and
later), as ``go version -m`` prints it.

The linker writes a 32-byte header that starts with ``\\xff Go buildinf:``, then the pointer size
and a flags byte; with flag 2 ("inline strings") the Go version and the module information follow
as two strings, each prefixed by its length as an unsigned varint. The module information is
framed by 16 bytes either side and holds tab-separated lines: ``path`` (the main package), ``mod``
(the main module), ``dep`` (each dependency) and ``=>`` (a replacement of the line above), and
``build`` settings. Older binaries (pointers to the strings instead) are not read.
"""

from __future__ import annotations

from functools import partial

from berth.inventory.layerfiles import Probe
from berth.inventory.model import Package
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, added_in, namespaced_package
from berth.varint import read_uvarint

MAGIC = b"\xff Go buildinf:"
_HEADER = 32
_INLINE_STRINGS = 0x2
#: The module information's frame: 16 bytes either side, the last line ending just inside.
_FRAME = 16


def wants(path: str) -> bool:
    """No file by its name: Go executables are found by the probe."""
    return False


def executable(path: str, mode: int) -> bool:
    """Regular files with an execute bit: the ones that may be Go programs."""
    return bool(mode & 0o111)


def extract(data: bytes) -> bytes | None:
    """``MAGIC``, the Go version, a newline and the module information, from an executable's
    bytes; None if it has no build information Berth reads."""
    start = data.find(MAGIC)
    while start >= 0:
        if len(data) >= start + _HEADER and data[start + 15] & _INLINE_STRINGS:
            try:
                length, offset = read_uvarint(data, start + _HEADER)
                version = data[offset : offset + length]
                length, offset = read_uvarint(data, offset + length)
                modinfo = data[offset : offset + length]
            except ValueError:
                return None
            if len(modinfo) >= 2 * _FRAME + 1 and modinfo[-_FRAME - 1 : -_FRAME] == b"\n":
                modinfo = modinfo[_FRAME:-_FRAME]
            return MAGIC + version + b"\n" + modinfo
        start = data.find(MAGIC, start + 1)
    return None


PROBE = Probe(executable, extract)

#: (module path, version) of each module: the main one first, then the dependencies.
Modules = tuple[str, tuple[tuple[str, str], ...]]


def modules(blob: bytes, path: str) -> Modules:
    """The Go version and the modules of an extracted blob; a replaced module takes the version
    of its replacement when that is a module (a local directory has none: the original stays)."""
    try:
        text = blob[len(MAGIC) :].decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: Go build information that is not UTF-8") from None
    version, _, info = text.partition("\n")
    found: list[tuple[str, str]] = []
    for line in info.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            found.append((fields[1], fields[2]))
        elif fields[0] == "=>" and len(fields) >= 3 and found and fields[2]:
            found[-1] = (found[-1][0], fields[2])
    return version, tuple(found)


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The modules of the image's Go executables, and the standard library (``stdlib``) at the
    version of Go that built each."""
    found: list[Package] = []
    for path in sorted(p for p, kept in image.files.items() if kept.data.startswith(MAGIC)):
        kept = image.files[path]
        try:
            go_version, listed = modules(kept.data, path)
        except RecordError as err:
            warn(f"skipped {err}")
            continue
        layer = image.layers[added_in(kept, partial(modules, path=path))]
        found.extend(
            namespaced_package("golang", module, version, layer, path)
            for module, version in (("stdlib", go_version), *listed)
        )
    return found
