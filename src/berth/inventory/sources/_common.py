"""What every source gets: the image's kept files, its layers and distribution, and a warn hook."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from berth.inventory.layerfiles import KeptFile

T = TypeVar("T")

#: Called with one line naming a record that was skipped and why.
Warn = Callable[[str], None]


class RecordError(ValueError):
    """A package record that cannot be read (its file is skipped with a warning)."""


@dataclass(frozen=True, slots=True)
class ImageFiles:
    """The files sources read, and the image's facts they need: ``layers`` are the diff IDs by
    index, ``distro`` the ``ID`` and ``VERSION_ID`` of its os-release (empty when unknown)."""

    files: dict[str, KeptFile]
    layers: tuple[str, ...]
    distro: tuple[str, str]


def added_in(kept: KeptFile, record: Callable[[bytes], Hashable | None]) -> int:
    """The layer that added the current record: the oldest of the newest versions of the file that
    all hold the same ``record`` (so a layer rewriting a file unchanged does not take it)."""
    current = record(kept.data)
    layer = kept.layer
    for index, data in reversed(kept.versions[:-1]):
        try:
            same = record(data) == current
        except RecordError:
            same = False
        if not same:
            break
        layer = index
    return layer


def text(data: bytes, path: str) -> str:
    """A record file as text; ``RecordError`` if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: not UTF-8 text (byte {err.start})") from None


def readable(
    image: ImageFiles, wants: Callable[[str], bool], parse: Callable[[str, bytes], T], warn: Warn
) -> Iterator[tuple[str, KeptFile, T]]:
    """Each wanted file, in path order, with what ``parse(path, data)`` makes of it; a file it
    refuses (``RecordError``) is passed to ``warn`` and left out."""
    for path in sorted(p for p in image.files if wants(p)):
        kept = image.files[path]
        try:
            parsed = parse(path, kept.data)
        except RecordError as err:
            warn(f"skipped {err}")
            continue
        yield path, kept, parsed
