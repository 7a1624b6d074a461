"""Signatures of images in the store, kept by the manifest digest they sign.

A signature signs a manifest digest, not a name, so the store keeps signatures beside the content
(``image_signatures`` in ``<root>/metadata.db``) keyed by that digest: every name pointing at the
manifest shares them, and they go when the manifest leaves the content store (``prune``, run by
``ImageStore.gc``). Two formats, as containers/image names them:

- ``sigstore``: a cosign signature, the payload and the raw signature over it (what one layer of
  the ``sha256-HEX.sig`` manifest holds: the layer's blob and its signature annotation);
- ``simple-signing``: a GPG simple signature, one opaque blob (``payload`` is empty).

Copies carry them: a pull stores the signatures it read from the registry, a push writes the
stored ones to the registry's ``.sig`` tag, signature extension or lookaside.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from berth.image.store import _db
from berth.image.store.content import ContentStore
from berth.spec.digest import Digest
from berth.spec.records import record

SIGSTORE = "sigstore"
SIMPLE_SIGNING = "simple-signing"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS image_signatures (
    manifest TEXT NOT NULL,
    format TEXT NOT NULL,
    payload BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (manifest, format, payload, signature)
);
"""


@record(frozen=True)
class StoredSignature:
    """One signature: its format (``SIGSTORE`` or ``SIMPLE_SIGNING``), payload and signature bytes."""

    format: str
    payload: bytes
    signature: bytes


def _conn(content: ContentStore) -> sqlite3.Connection:
    conn = content.leases.conn
    conn.executescript(_SCHEMA)
    return conn


def add(content: ContentStore, manifest: Digest, signatures: Iterable[StoredSignature]) -> None:
    """Keep ``signatures`` of ``manifest`` (one already kept is not added twice)."""
    rows = [(str(manifest), s.format, s.payload, s.signature) for s in signatures]
    if not rows:
        return
    with _db.transaction(_conn(content)) as c:
        c.executemany(
            "INSERT OR IGNORE INTO image_signatures (manifest, format, payload, signature) "
            "VALUES (?, ?, ?, ?)",
            rows,
        )


def of(content: ContentStore, manifest: Digest) -> list[StoredSignature]:
    """The signatures kept for ``manifest``, in the order they were added."""
    rows = _conn(content).execute(
        "SELECT format, payload, signature FROM image_signatures WHERE manifest = ? ORDER BY rowid",
        (str(manifest),),
    )
    return [StoredSignature(fmt, bytes(payload), bytes(sig)) for fmt, payload, sig in rows]


def prune(content: ContentStore) -> int:
    """Forget the signatures of manifests no longer in ``content``; return how many went."""
    conn = _conn(content)
    signed = [row[0] for row in conn.execute("SELECT DISTINCT manifest FROM image_signatures")]
    gone = [(digest,) for digest in signed if not content.exists(digest)]
    if not gone:
        return 0
    with _db.transaction(conn) as c:
        before = c.total_changes
        c.executemany("DELETE FROM image_signatures WHERE manifest = ?", gone)
        return c.total_changes - before
