"""The content store: blobs addressed by digest under ``<root>/blobs/<algorithm>/<encoded>``.

The image spec defines no store; this one follows containerd's content store
(content/content.go: Provider, Ingester, Writer.Commit(size, expected)): writes go to an ingest
area, are hashed while written, verified against the expected size and digest and only then renamed
into place. Published blobs are read-only and immutable.

    store = ContentStore(root)
    digest = store.put(b"data", expected=Digest.of(b"data"))
    with store.writer("layer-1", expected_digest=d, expected_size=n) as w:
        w.write(chunk)
        w.commit()
    store.read(digest)
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from berth.errors import AlreadyExists, DigestMismatch, InvalidArgument, NotFound
from berth.fsutil import locked
from berth.image.store import ingest
from berth.image.store.ingest import IngestStatus, Writer
from berth.image.store.leases import CONTENT, INGEST, Lease, Leases
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import BinaryIO

LeaseRef = Lease | str | None


@record(frozen=True)
class Info:
    """A published blob: its digest, size and when it was committed (Unix seconds)."""

    digest: Digest
    size: int
    created: float


def as_digest(value: Digest | str) -> Digest:
    """``value`` as a ``Digest`` (strings are parsed)."""
    return value if isinstance(value, Digest) else Digest.parse(value)


class ContentStore:
    """Blobs by digest, written through verified ingests (see the module docstring).

    ``collectable=False`` makes a plain blob directory with no garbage collection, leases or
    database (what an OCI image layout needs); its ingests go to ``ingest_root``.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, ingest_root: Path | None = None, collectable: bool = True
    ):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.ingest_root = ingest_root if ingest_root is not None else self.root / "ingest"
        self.collectable = collectable
        self._leases: Leases | None = None

    # -- reading ---------------------------------------------------------------------------------

    def blob_path(self, digest: Digest | str) -> Path:
        """Where the blob ``digest`` lives (or would live); its presence is not checked."""
        d = as_digest(digest)
        return self.blobs / d.algorithm / d.encoded

    def path(self, digest: Digest | str) -> Path:
        """The path of the blob ``digest``; ``NotFound`` if it is not in the store."""
        p = self.blob_path(digest)
        if not p.is_file():
            raise NotFound(f"blob {digest} not found")
        return p

    def exists(self, digest: Digest | str) -> bool:
        """Whether the blob is in the store."""
        return self.blob_path(digest).is_file()

    def info(self, digest: Digest | str) -> Info:
        """Size and commit time of the blob; ``NotFound`` if absent."""
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None
        return Info(as_digest(digest), st.st_size, st.st_mtime)

    def open(self, digest: Digest | str) -> BinaryIO:
        """The blob opened for reading; ``NotFound`` if absent."""
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: Digest | str, verify: bool = True, max_size: int = 64 << 20) -> bytes:
        """The whole blob (for manifests and configs), checked against its digest unless ``verify=False``."""
        d = as_digest(digest)
        with self.open(d) as fh:
            data = fh.read(max_size + 1)
        if len(data) > max_size:
            raise InvalidArgument(f"blob {d} is larger than {max_size} bytes")
        if verify and d.verifiable and Digest.of(data, d.algorithm) != d:
            raise DigestMismatch(f"blob {d} is corrupt: its content hashes to {Digest.of(data, d.algorithm)}")
        return data

    def list(self) -> Iterator[Info]:
        """Every published blob, in no particular order."""
        if not self.blobs.is_dir():
            return
        for alg_dir in self.blobs.iterdir():
            if not alg_dir.is_dir():
                continue
            for entry in os.scandir(alg_dir):
                try:
                    digest = Digest.parse(f"{alg_dir.name}:{entry.name}")
                    st = entry.stat(follow_symlinks=False)
                except (InvalidArgument, FileNotFoundError):
                    continue  # not a blob (or deleted while we listed)
                yield Info(digest, st.st_size, st.st_mtime)

    # -- writing ---------------------------------------------------------------------------------

    def writer(
        self,
        ref: str,
        expected_digest: Digest | str | None = None,
        expected_size: int | None = None,
        lease: LeaseRef = None,
    ) -> Writer:
        """Open (or resume) the ingest ``ref``.

        Raises ``AlreadyExists`` if ``expected_digest`` is already in the store (after adding it to
        ``lease``, so it stays), and ``InvalidState`` if another writer holds ``ref``.
        """
        if not ref or "\0" in ref:
            raise InvalidArgument(f"invalid ingest ref {ref!r}")
        want = None if expected_digest is None else as_digest(expected_digest)
        lease_id = self._lease_id(lease)
        if want is not None and self.protect(want, lease_id):
            raise AlreadyExists(f"blob {want} already exists")
        return Writer(self, ref, want, expected_size, lease_id)

    def put(
        self, data: bytes, expected: Digest | str | Descriptor | None = None, lease: LeaseRef = None
    ) -> Digest:
        """Store ``data`` in one go and return its digest; ``DigestMismatch`` if it is not ``expected``."""
        want: Digest | None = None
        size: int | None = None
        if isinstance(expected, Descriptor):
            want, size = expected.digest, expected.size
        elif expected is not None:
            want = as_digest(expected)
        actual = Digest.of(data, want.algorithm if want is not None else "sha256")
        if want is not None and actual != want:
            raise DigestMismatch(f"blob: digest is {actual}, expected {want}")
        if size is not None and size != len(data):
            raise DigestMismatch(f"blob {actual}: size is {len(data)}, expected {size}")
        lease_id = self._lease_id(lease)
        if self.protect(actual, lease_id):
            return actual
        ref = f"put-{actual}-{os.urandom(6).hex()}"
        with Writer(self, ref, actual, len(data), lease_id, lease_ingest=False) as w:
            w.write(data)
            return w.commit()

    def protect(self, digest: Digest | str, lease: LeaseRef) -> bool:
        """Whether the blob exists; if it does and ``lease`` is given, the lease now holds it."""
        lease_id = self._lease_id(lease)
        if lease_id is None:
            return self.exists(digest)
        with self.gc_guard():
            present = self.exists(digest)
            if present:
                self.lease_content(lease_id, as_digest(digest))
        return present

    def delete(self, digest: Digest | str) -> None:
        """Remove the blob; ``NotFound`` if it is absent."""
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    # -- ingests -------------------------------------------------------------------------------

    def ingests(self) -> builtins.list[IngestStatus]:
        """Every unfinished ingest on disk."""
        found = (ingest.status(p) for p in self.ingest_directories())
        return sorted((s for s in found if s is not None), key=lambda s: s.ref)

    def ingest_directories(self) -> builtins.list[Path]:
        """Every ingest's directory, with its data or without: a writer killed between making
        the directory and opening its data file leaves one that ``ingests`` does not list."""
        if not self.ingest_root.is_dir():
            return []
        return [p for p in self.ingest_root.iterdir() if p.is_dir()]

    def abort(self, ref: str) -> None:
        """Throw away the ingest ``ref``; ``NotFound`` if there is none, ``InvalidState`` if in use."""
        directory = ingest.ingest_dir(self.ingest_root, ref)
        if not directory.is_dir():
            raise NotFound(f"ingest {ref!r} not found")
        with Writer(self, ref, None, None, None) as w:
            w.abort()

    def ingest_finished(self) -> None:
        """Called after an ingest is removed; a layout's private ingest directory goes when empty."""
        if not self.collectable:
            with contextlib.suppress(OSError):
                self.ingest_root.rmdir()

    # -- leases and the collector's lock ------------------------------------------------------

    @property
    def leases(self) -> Leases:
        """The store's leases (its database is opened on first use)."""
        if not self.collectable:
            raise InvalidArgument(f"{self.root} is a plain blob directory: it has no leases")
        if self._leases is None:
            self._leases = Leases(self.root)
        return self._leases

    def _lease_id(self, lease: LeaseRef) -> str | None:
        """The id of ``lease``, after checking that it exists (so a bad lease fails before any write)."""
        if lease is None:
            return None
        lease_id = lease.id if isinstance(lease, Lease) else lease
        self.leases.get(lease_id)
        return lease_id

    def lease_content(self, lease_id: str, digest: Digest) -> None:
        """Add a blob to a lease."""
        self.leases.add(lease_id, CONTENT, str(digest))

    def lease_ingest(self, lease_id: str, ref: str) -> None:
        """Add an ingest to a lease."""
        self.leases.add(lease_id, INGEST, ref)

    @contextlib.contextmanager
    def gc_guard(self, exclusive: bool = False) -> Iterator[None]:
        """Hold the collector's lock: shared while publishing a blob, exclusive while collecting.

        A commit renames its blob and records it in its lease under the shared lock, so the collector
        never sees a published blob that its lease does not yet hold.
        """
        if not self.collectable:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with locked(self.root / "gc.lock", shared=not exclusive):
            yield

    def close(self) -> None:
        """Release the database connection, if one was opened."""
        if self._leases is not None:
            self._leases.close()
