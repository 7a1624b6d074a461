"""The few files of an image that package sources read, taken from its layers as streams.

Layers are read in order through ``TarReader``, never unpacked: each entry's name is checked
against the sources' ``wants`` and only wanted regular files are kept in memory, with their
history (the layer of each version since the file last appeared). Whiteouts, opaque directories
and entries replacing lower ones (image-spec layer.md#whiteouts, #changesets) remove what they
hide, so the result is the files of the image's final root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from berth.image.layers.entry import EntryType
from berth.image.layers.whiteout import OPAQUE_WHITEOUT, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX

#: A layer's entries as (type, name, link name, size, mode, a call that reads the entry's data).
Entries = Iterable[tuple[EntryType, str, str, int, int, Callable[[], bytes]]]
#: Files larger than this are not kept (package records are small; this bounds memory).
MAX_FILE = 64 << 20


@dataclass(frozen=True, slots=True)
class Probe:
    """Files a source picks by their mode rather than their name (``wants(path, mode)``), kept as
    the little that ``extract(data)`` takes from them (None: the file is not one of its kind)."""

    wants: Callable[[str, int], bool]
    extract: Callable[[bytes], bytes | None]


@dataclass(frozen=True, slots=True)
class Watch:
    """Facts noted about regular files, whatever their name: ``note(path, mode, size, read)`` gives
    the names of what it sees in one (``setuid``, a kind of secret...), or nothing. Unlike kept
    files, only the facts are kept, each with the file's mode and layer."""

    note: Callable[[str, int, int, Callable[[], bytes]], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Noted:
    """What a ``Watch`` noted about a file of the image: the layer that wrote it, its mode, the facts."""

    layer: int
    mode: int
    facts: tuple[str, ...]


@dataclass(slots=True)
class KeptFile:
    """A wanted file of the image: ``versions`` are (layer index, content), oldest first, since
    the file last appeared; the last one is what the image holds."""

    versions: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        """The file's content in the image."""
        return self.versions[-1][1]

    @property
    def layer(self) -> int:
        """Index of the layer that wrote the current content."""
        return self.versions[-1][0]


@dataclass(slots=True)
class _LayerChanges:
    """What one layer does to the layers below it, collected while its tar is read."""

    removed: set[str] = field(default_factory=set)  # the path and all below it (whiteouts)
    emptied: set[str] = field(default_factory=set)  # everything below the path (opaque, non-dirs)
    replaced: set[str] = field(default_factory=set)  # the path itself (non-regular or unwanted)
    added: dict[str, bytes] = field(default_factory=dict)
    noted: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)  # mode and facts
    written: set[str] = field(default_factory=set)  # regular files the layer writes

    def hides(self, path: str) -> bool:
        """Whether this layer hides a lower layer's file at ``path``."""
        return path in self.replaced or self.cuts(path)

    def cuts(self, path: str) -> bool:
        """Whether a whiteout or a replaced directory above ``path`` ends a lower file there (a file
        the layer then writes at ``path`` starts a new history)."""
        if path in self.removed:
            return True
        parent = path
        while "/" in parent:
            parent = parent.rpartition("/")[0]
            if parent in self.removed or parent in self.emptied:
                return True
        return "" in self.emptied  # an opaque root


def clean_path(name: str) -> str:
    """A tar entry name as a relative path without ``./``, leading or trailing slashes."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def read_layer(
    entries: Entries,
    wants: Callable[[str], bool],
    files: dict[str, KeptFile],
    probe: Probe | None = None,
    watch: Watch | None = None,
) -> _LayerChanges:
    """Collect one layer's changes: ``entries`` are (type, name, link name, size, mode, read data)."""
    changes = _LayerChanges()
    for kind, name, linkname, size, mode, read in entries:
        path = clean_path(name)
        head, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_WHITEOUT:
                changes.emptied.add(head)
            elif not base.startswith(WHITEOUT_META_PREFIX):
                hidden = base[len(WHITEOUT_PREFIX) :]
                changes.removed.add(f"{head}/{hidden}" if head else hidden)
            continue
        if kind is not EntryType.DIR:
            changes.emptied.add(path)
        data = None
        if kind in (EntryType.REGULAR, EntryType.HARDLINK):
            read = _once(read) if watch is not None and kind is EntryType.REGULAR else read
            if size <= MAX_FILE:
                data = _wanted_data(kind, path, linkname, mode, read, wants, probe, changes, files)
            if watch is not None:
                changes.written.add(path)
                # a hard link's data is its target's, read where the target is
                facts = watch.note(path, mode, size, read if kind is EntryType.REGULAR else bytes)
                if facts:
                    changes.noted[path] = (mode, facts)
        if data is None:
            changes.replaced.add(path)
            changes.added.pop(path, None)
        else:
            changes.added[path] = data
            changes.replaced.discard(path)
    return changes


def _wanted_data(
    kind: EntryType,
    path: str,
    linkname: str,
    mode: int,
    read: Callable[[], bytes],
    wants: Callable[[str], bool],
    probe: Probe | None,
    changes: _LayerChanges,
    files: dict[str, KeptFile],
) -> bytes | None:
    """What is kept of a regular file or hard link: its data if a source wants its name, what the
    probe extracts if the probe wants it (a hard link shares its target's kept data), else None."""
    extract: Callable[[bytes], bytes | None] | None = None
    if not wants(path):
        if probe is None or not probe.wants(path, mode):
            return None
        extract = probe.extract
    if kind is EntryType.HARDLINK:
        return _link_data(clean_path(linkname), changes, files)
    return read() if extract is None else extract(read())


def _once(read: Callable[[], bytes]) -> Callable[[], bytes]:
    """``read`` that reads the entry once however often it is called (a source and a watch may
    both want its data)."""
    cache: list[bytes] = []

    def again() -> bytes:
        if not cache:
            cache.append(read())
        return cache[0]

    return again


def _link_data(target: str, changes: _LayerChanges, files: dict[str, KeptFile]) -> bytes | None:
    if target in changes.added:
        return changes.added[target]
    kept = files.get(target)
    return kept.data if kept is not None and not changes.hides(target) else None


def apply_changes(files: dict[str, KeptFile], changes: _LayerChanges, layer: int) -> None:
    """Fold one layer's changes (index ``layer``) into the files kept from the layers below."""
    for path in [p for p in files if p not in changes.added and changes.hides(p)]:
        del files[path]
    for path, data in changes.added.items():
        kept = files.get(path)
        if kept is None or changes.cuts(path):
            kept = files[path] = KeptFile()
        kept.versions.append((layer, data))


def apply_notes(noted: dict[str, Noted], changes: _LayerChanges, layer: int) -> None:
    """Fold one layer's noted facts into those of the layers below: a file the layer hides or
    writes again loses its old facts."""
    for path in [p for p in noted if p in changes.written or changes.hides(p)]:
        del noted[path]
    for path, (mode, facts) in changes.noted.items():
        noted[path] = Noted(layer, mode, facts)


def tar_entries(stream: BinaryIO) -> Entries:
    """The entries of a layer blob, decompressed as its first bytes show (as ``apply_layer`` does)."""
    from berth.image.layers.compression import LayerReader
    from berth.image.layers.tarreader import TarReader

    chunks = LayerReader(stream).chunks()
    try:
        reader = TarReader(chunks)
        for entry in reader:
            yield entry.type, entry.name, entry.linkname, entry.size, entry.mode, reader.read_data
    finally:
        chunks.close()  # stops the inflate thread now, also when the reader stops early


def collect_files(
    layers: Iterable[Entries],
    wants: Callable[[str], bool],
    probe: Probe | None = None,
    watch: Watch | None = None,
    noted: dict[str, Noted] | None = None,
) -> dict[str, KeptFile]:
    """The wanted files of the root that ``layers`` (lowest first) make, and what ``probe``
    extracts from the files it wants; with ``watch``, what it notes of the root's regular files
    goes in ``noted``."""
    files: dict[str, KeptFile] = {}
    for index, entries in enumerate(layers):
        changes = read_layer(entries, wants, files, probe, watch)
        apply_changes(files, changes, index)
        if noted is not None:
            apply_notes(noted, changes, index)
    return files
