"""Garbage collection: mark every blob reachable from the roots or held by a lease, sweep the rest.

Roots are descriptors (an image record's target); from each, the walk follows index -> manifests ->
config and layers. A manifest whose ``subject`` is kept is kept too, with everything it references
(image-spec manifest.md#image-manifest-property-descriptions ``subject``: referrers such as
signatures and SBOMs live and die with their subject). Leases keep in-flight blobs and ingests.
The collector holds the store's exclusive lock while it marks and sweeps, and reads roots and leases
in one database transaction, so a pull that holds a lease can run at the same time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable

from berth.errors import BerthError
from berth.image.store import _db, ingest, leases
from berth.image.store.content import ContentStore
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex, ImageManifest, parse
from berth.spec.records import field, record

#: Reads the root descriptors inside the collector's database transaction.
RootsQuery = Callable[[sqlite3.Connection], Iterable[Descriptor]]

# A blob larger than this is not a manifest (registries cap manifests at 4 MiB); never parse it.
_MAX_MANIFEST_SIZE = 4 << 20


@record
class GCReport:
    """What a collection removed."""

    removed_blobs: list[Digest] = field(default_factory=list)
    freed_bytes: int = 0
    removed_ingests: list[str] = field(default_factory=list)
    expired_leases: int = 0


def collect(store: ContentStore, roots: RootsQuery, ingest_grace: float = 3600.0) -> GCReport:
    """Remove every blob not reachable from ``roots`` and not leased, and stale ingests.

    An ingest is stale when no writer holds it, no lease names it, and it was last written more than
    ``ingest_grace`` seconds ago; one without data (its writer killed before it wrote any) is stale
    once no writer holds it and its directory is older than that.
    """
    report = GCReport()
    with store.gc_guard(exclusive=True):
        conn = store.leases.conn
        now = time.time()
        with _db.transaction(conn) as c:
            report.expired_leases = leases.delete_expired(c, now)
            leased, leased_ingests = leases.protected(c, now)
            root_list = list(roots(c))
        marked = _mark(store, root_list, {Digest.parse(d) for d in leased})
        for info in list(store.list()):
            if info.digest not in marked:
                try:
                    store.delete(info.digest)
                except BerthError:
                    continue
                report.removed_blobs.append(info.digest)
                report.freed_bytes += info.size
        for directory in store.ingest_directories():
            status = ingest.status(directory)  # None: no data yet, nothing a lease could keep
            if status is not None and status.ref in leased_ingests:
                continue
            if ingest.remove_if_stale(directory, now - ingest_grace):
                report.removed_ingests.append(status.ref if status is not None else directory.name)
    return report


def _mark(store: ContentStore, roots: list[Descriptor], leased: set[Digest]) -> set[Digest]:
    marked: set[Digest] = set()
    _walk(store, [(d, False) for d in roots], marked)
    # A leased manifest keeps what it references: a pull records its image only at the end. Leased
    # blobs come with no media type, so their content decides (_document sniffs).
    _walk(store, [(_bare(d), True) for d in leased], marked)
    # Referrers: keep any manifest whose subject is kept, until nothing more is added. Each
    # unmarked blob is read once to learn its subject.
    subjects = {
        i.digest: _subject_of(store, i.digest, i.size) for i in store.list() if i.digest not in marked
    }
    referrers = {d: s for d, s in subjects.items() if s is not None}
    while added := [d for d, s in referrers.items() if s in marked and d not in marked]:
        _walk(store, [(_bare(d), True) for d in added], marked)
    return marked


def _bare(digest: Digest) -> Descriptor:
    return Descriptor("application/octet-stream", digest, 0)


def _walk(store: ContentStore, todo: list[tuple[Descriptor, bool]], marked: set[Digest]) -> None:
    """Mark ``todo`` and everything reachable from it; missing blobs are skipped (fsck reports them).

    Each entry says whether its content, rather than its media type, decides if it has children.
    """
    while todo:
        desc, sniff = todo.pop()
        if desc.digest in marked:
            continue
        marked.add(desc.digest)
        if sniff or desc.media_type in mediatypes.MANIFEST_OR_INDEX_TYPES:
            doc = _document(store, desc.digest, None if sniff else desc.media_type)
            if doc is not None:
                todo.extend((child, False) for child in doc.children())


def _document(
    store: ContentStore, digest: Digest, media_type: str | None
) -> ImageManifest | ImageIndex | None:
    try:
        if media_type is None and not _looks_like_json(store, digest):
            return None
        return parse(store.read(digest), media_type)
    except BerthError:
        return None  # missing, corrupt or not a manifest: nothing further to keep


def _looks_like_json(store: ContentStore, digest: Digest) -> bool:
    if store.info(digest).size > _MAX_MANIFEST_SIZE:
        return False
    with store.open(digest) as fh:
        return fh.read(1) == b"{"


def _subject_of(store: ContentStore, digest: Digest, size: int) -> Digest | None:
    if size > _MAX_MANIFEST_SIZE:
        return None
    doc = _document(store, digest, None)
    return doc.subject.digest if doc is not None and doc.subject is not None else None
