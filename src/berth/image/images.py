"""Image records: a name (a normalized reference) pointing at a target descriptor in the content store.

Records live in the store's SQLite database (``<root>/metadata.db``, WAL, busy timeout), next to
the leases, so garbage collection reads both in one transaction. An image's target is a manifest or
an index; ``resolve`` follows it to the manifest and config for a platform, checking that every
blob the image needs is present.

    images = ImageStore("/var/lib/berth/images")
    images.put("alpine", manifest_descriptor)      # stored as docker.io/library/alpine:latest
    resolved = images.resolve("alpine")            # manifest and config for the host platform
    images.gc()
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from berth.errors import AlreadyExists, NotFound
from berth.image.store import _db
from berth.image.store.content import ContentStore
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.image_config import ImageConfig
from berth.spec.manifest import ImageManifest, parse
from berth.spec.platform import Platform, host
from berth.spec.records import field, record
from berth.spec.reference import Reference

TYPE_CHECKING = False  # type checkers see True; the collector loads when ``gc`` runs (not on ``berth run``)
if TYPE_CHECKING:
    from berth.image.store.gc import GCReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
"""


@record(frozen=True)
class Image:
    """A named image: ``name`` is the canonical reference (``docker.io/library/alpine:latest``)."""

    name: str
    target: Descriptor
    created: float
    updated: float
    labels: Mapping[str, str] = field(default_factory=dict)


@record(frozen=True)
class ResolvedImage:
    """An image followed to one platform: the manifest's descriptor, the manifest and its config."""

    name: str
    descriptor: Descriptor
    manifest: ImageManifest
    config: ImageConfig


def normalize_name(name: str) -> str:
    """The canonical form of an image name; ``InvalidArgument`` if it is not a reference."""
    return str(Reference.parse(name))


class ImageStore:
    """Named image records over a content store (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | ContentStore) -> None:
        self.content = root if isinstance(root, ContentStore) else ContentStore(Path(root))
        self._ready = False

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = self.content.leases.conn
        if not self._ready:
            conn.executescript(_SCHEMA)
            self._ready = True
        return conn

    def create(self, name: str, target: Descriptor, labels: Mapping[str, str] | None = None) -> Image:
        """Record a new image; ``AlreadyExists`` if the name is taken."""
        key = normalize_name(name)
        now = time.time()
        with _db.transaction(self._conn) as c:
            try:
                c.execute(
                    "INSERT INTO images VALUES (?, ?, ?, ?, ?)",
                    (key, _encode(target), json.dumps(dict(labels or {})), now, now),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"image {key} already exists") from None
        return Image(key, target, now, now, dict(labels or {}))

    def update(self, name: str, target: Descriptor, labels: Mapping[str, str] | None = None) -> Image:
        """Point an existing image at a new target (and labels, if given); ``NotFound`` if absent."""
        key = normalize_name(name)
        with _db.transaction(self._conn) as c:
            old = self._get(c, key)
            new_labels = dict(old.labels if labels is None else labels)
            now = time.time()
            c.execute(
                "UPDATE images SET target = ?, labels = ?, updated = ? WHERE name = ?",
                (_encode(target), json.dumps(new_labels), now, key),
            )
        return Image(key, target, old.created, now, new_labels)

    def put(self, name: str, target: Descriptor, labels: Mapping[str, str] | None = None) -> Image:
        """Create the image, or update it if it exists (what a pull or a tag does)."""
        try:
            return self.create(name, target, labels)
        except AlreadyExists:
            return self.update(name, target, labels)

    def get(self, name: str) -> Image:
        """The image called ``name`` (normalized first); ``NotFound`` if there is none."""
        return self._get(self._conn, normalize_name(name))

    def list(self) -> builtins.list[Image]:
        """Every image, sorted by name."""
        rows = self._conn.execute("SELECT * FROM images ORDER BY name").fetchall()
        return [_row(r) for r in rows]

    def delete(self, name: str) -> None:
        """Remove the record (its blobs go at the next ``gc`` unless something else uses them)."""
        key = normalize_name(name)
        with _db.transaction(self._conn) as c:
            if c.execute("DELETE FROM images WHERE name = ?", (key,)).rowcount == 0:
                raise NotFound(f"image {key} not found")

    def gc(self, ingest_grace: float = 3600.0) -> GCReport:
        """Remove blobs no image references and no lease holds, and stale ingests, then the
        signatures of manifests that went (``berth.image.signatures``)."""
        from berth.image import signatures
        from berth.image.store.gc import collect

        _ = self._conn  # creates the table the collector reads
        report = collect(self.content, _roots, ingest_grace)
        signatures.prune(self.content)
        return report

    def resolve(self, name: str, platform: Platform | None = None) -> ResolvedImage:
        """Follow the image to the manifest for ``platform`` (the host by default) and its config.

        Raises ``NotFound`` naming the first blob the image needs that is missing from the store,
        or the platform if an index has no manifest for it.
        """
        image = self.get(name)
        return resolve(self.content, image.name, image.target, platform)

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str) -> Image:
        row = conn.execute("SELECT * FROM images WHERE name = ?", (key,)).fetchone()
        if row is None:
            raise NotFound(f"image {key} not found")
        return _row(row)

    def close(self) -> None:
        """Release the database connection."""
        self.content.close()


def _encode(target: Descriptor) -> str:
    return json.dumps(target.to_json())


def _row(row: tuple[str, str, str, float, float]) -> Image:
    name, target, labels, created, updated = row
    return Image(
        name, Descriptor.from_json(json.loads(target), "image.target"), created, updated, json.loads(labels)
    )


def _roots(conn: sqlite3.Connection) -> Iterable[Descriptor]:
    # An unreadable record raises: better no collection than one that frees an image's blobs.
    rows = conn.execute("SELECT name, target FROM images").fetchall()
    return [Descriptor.from_json(json.loads(target), f"image {name}: target") for name, target in rows]


def resolve(
    content: ContentStore, name: str, target: Descriptor, platform: Platform | None = None
) -> ResolvedImage:
    """Follow ``target`` (a manifest or index in ``content``) to the manifest for ``platform``.

    ``name`` only labels errors. Raises ``NotFound`` naming the first blob that is missing, or the
    platform if an index has no manifest for it.
    """
    wanted = platform or host()
    desc = target
    for _ in range(8):  # indexes may nest; deeper than this is junk
        doc = parse(_blob(content, name, desc, "manifest"), desc.media_type)
        if isinstance(doc, ImageManifest):
            config = ImageConfig.parse(_blob(content, name, doc.config, "config"))
            for i, layer in enumerate(doc.layers):
                # Foreign layers (with urls) are fetched from their URLs, not kept in the store.
                if not layer.urls and not content.exists(layer.digest):
                    raise NotFound(f"image {name}: layer {i} ({layer.digest}) is missing from the store")
            return ResolvedImage(name, desc, doc, config)
        try:
            desc = doc.select(wanted)
        except NotFound as err:
            raise NotFound(f"image {name}: {err}") from None
    raise NotFound(f"image {name}: indexes nest too deeply")


def _blob(content: ContentStore, name: str, desc: Descriptor, what: str) -> bytes:
    if what == "manifest" and desc.media_type not in mediatypes.MANIFEST_OR_INDEX_TYPES:
        raise NotFound(f"image {name}: {desc.digest} is a {desc.media_type}, not a manifest")
    try:
        data = content.read(desc.digest)
    except NotFound:
        raise NotFound(f"image {name}: {what} {desc.digest} is missing from the store") from None
    if len(data) != desc.size:
        raise NotFound(f"image {name}: {what} {desc.digest} has size {len(data)}, not {desc.size}")
    return data
