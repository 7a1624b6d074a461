"""What every source gets: the image's kept files, its layers and distribution, and a warn hook."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from berth.inventory.layerfiles import KeptFile
from berth.inventory.model import Package
from berth.inventory.purl import cpe, purl

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

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


def layers_added(kept: KeptFile, records: Callable[[bytes], Mapping[K, object]]) -> dict[K, int]:
    """For each record of the file's current content (``records`` parses a version into records by
    key), the layer that added it: the oldest of the newest versions of the file that all hold the
    same record (so a layer rewriting a record unchanged does not take it). Each version is parsed
    once, however many records the file holds."""
    current = records(kept.data)
    added = dict.fromkeys(current, kept.layer)
    unchanged = set(current)
    for index, data in reversed(kept.versions[:-1]):
        try:
            older = records(data)
        except RecordError:
            break
        unchanged = {key for key in unchanged if key in older and older[key] == current[key]}
        if not unchanged:
            break
        added.update(dict.fromkeys(unchanged, index))
    return added


def added_in(kept: KeptFile, record: Callable[[bytes], object]) -> int:
    """The layer that added the current content of a file holding one record (``layers_added``)."""
    return layers_added(kept, lambda data: {None: record(data)})[None]


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


def namespaced_package(
    kind: str, name: str, version: str, layer: str, path: str, licenses: tuple[str, ...] = ()
) -> Package:
    """A language package whose name's last ``/`` parts the purl namespace from the purl name
    (npm's ``@scope/name``, a Go module path)."""
    namespace, _, base = name.rpartition("/")
    return Package(
        type=kind,
        name=name,
        version=version,
        purl=purl(kind, base, version, namespace),
        cpe=cpe(base, base, version),
        layer=layer,
        path=path,
        licenses=licenses,
    )
