"""Ingests: blobs being written, hashed as they are written, published only once verified.

Each ingest lives in ``<ingest root>/<sha256 of ref>/`` with the ref's name in ``ref``, the bytes so
far in ``data`` and an flock on ``lock`` held by the one writer that owns it. ``commit`` checks size
and digest, then renames ``data`` into ``blobs/<alg>/<encoded>``: a reader sees the whole, verified
blob or nothing, even if the writer is killed (containerd content/local/writer.go works the same way).
A writer reopened with the same ref continues where the last one stopped, rehashing what is on disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from berth.errors import DigestMismatch, InvalidArgument, InvalidState, NoSpace
from berth.fsutil import atomic_write, fsync_dir, remove_tree
from berth.spec.digest import Digest, Hasher, new_hasher, sha256_hex
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.image.store.content import ContentStore

_CHUNK = 1 << 20
# How often to retry a held ingest lock before reporting the ingest as in use.
_BUSY_RETRIES = 3


@record(frozen=True)
class IngestStatus:
    """An ingest on disk: its ref, how many bytes it holds, when it was last written."""

    ref: str
    offset: int
    updated: float
    path: Path


def ingest_dir(ingest_root: Path, ref: str) -> Path:
    """Where the ingest called ``ref`` lives (refs are arbitrary text, so the name is hashed)."""
    return ingest_root / sha256_hex(ref.encode("utf-8", "surrogatepass"))


def try_lock(directory: Path) -> int | None:
    """An fd holding the ingest's lock, or ``None`` if a live writer holds it (or it vanished)."""
    try:
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # A collector may have removed the directory between our open and our lock.
        if os.fstat(fd).st_ino != os.stat(directory / "lock").st_ino:
            raise FileNotFoundError
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def status(directory: Path) -> IngestStatus | None:
    """What the ingest in ``directory`` holds, or ``None`` if it is not a complete ingest."""
    try:
        ref = (directory / "ref").read_text()
        st = os.stat(directory / "data")
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return IngestStatus(ref, st.st_size, st.st_mtime, directory)


class Writer:
    """Writes one blob: ``write`` bytes, then ``commit`` to verify and publish them.

    Use as a context manager; leaving the block without committing keeps the ingest so a later
    writer with the same ref can resume it (call ``abort`` to throw it away).
    """

    def __init__(
        self,
        store: ContentStore,
        ref: str,
        expected_digest: Digest | None,
        expected_size: int | None,
        lease: str | None,
        lease_ingest: bool = True,
    ) -> None:
        if expected_size is not None and expected_size < 0:
            raise InvalidArgument(f"expected size must not be negative, got {expected_size}")
        self.ref = ref
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        self._hasher = new_hasher(self._algorithm())  # refuse an unknown algorithm before touching disk
        self._store = store
        self._lease = lease
        self._dir = ingest_dir(store.ingest_root, ref)
        self._fd = -1
        self._lock = self._acquire(lease_ingest)
        try:
            self._fd = os.open(self._dir / "data", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._hasher = self._rehash()
        except BaseException:
            os.close(self._lock)
            if self._fd >= 0:
                os.close(self._fd)
            raise
        if expected_size is not None and self.offset > expected_size:
            self.truncate(0)  # more than the blob can hold: what is there is not this blob

    def _acquire(self, lease_ingest: bool) -> int:
        busy = 0
        for _ in range(_BUSY_RETRIES + 10):
            try:
                # Both levels on every try: a layout removes its emptied ingest root, and another
                # process's writer may do so between our mkdirs.
                self._store.ingest_root.mkdir(parents=True, exist_ok=True)
                self._dir.mkdir(exist_ok=True)
                if not (self._dir / "ref").exists():
                    # Not fsynced: a crash can leave an ingest without its ref file whatever is
                    # done here (between the mkdir and the write), and the data is verified at
                    # commit anyway. Two fsyncs saved per blob, on every pull's critical path.
                    ref = self.ref.encode("utf-8", "surrogatepass")
                    atomic_write(self._dir / "ref", ref, durable=False)
            except (FileNotFoundError, FileExistsError):
                # A collector removed it under us (pathlib's mkdir says "exists" when the directory
                # went between its mkdir and its is_dir check): start again.
                continue
            fd = try_lock(self._dir)
            if fd is not None:
                if self._lease is not None and lease_ingest:
                    try:
                        self._store.lease_ingest(self._lease, self.ref)
                    except BaseException:
                        os.close(fd)
                        raise
                return fd
            if (self._dir / "lock").exists():
                busy += 1
                if busy > _BUSY_RETRIES:
                    raise InvalidState(f"ingest {self.ref!r} is in use by another writer")
                time.sleep(0.02)  # the collector holds an ingest's lock only for a moment
        raise InvalidState(f"ingest {self.ref!r} keeps vanishing while being opened")

    def _algorithm(self) -> str:
        return self.expected_digest.algorithm if self.expected_digest is not None else "sha256"

    def _rehash(self) -> Hasher:
        hasher = new_hasher(self._algorithm())
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.offset = 0
        while chunk := os.read(self._fd, _CHUNK):
            hasher.update(chunk)
            self.offset += len(chunk)
        return hasher

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; return how many bytes were written."""
        self._check_open()
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace(f"ingest {self.ref!r}: {os.strerror(err.errno)}") from None
            raise
        self._hasher.update(view)
        self.offset += written
        return written

    def truncate(self, size: int) -> None:
        """Cut the ingest back to ``size`` bytes (0 restarts it) and rehash what remains."""
        self._check_open()
        if not 0 <= size <= self.offset:
            raise InvalidArgument(f"cannot truncate ingest {self.ref!r} of {self.offset} bytes to {size}")
        os.ftruncate(self._fd, size)
        self._hasher = self._rehash()

    def sync(self) -> None:
        """Flush what was written to the disk. ``commit`` does it too; a caller that writes from a
        worker thread calls it there first, so the commit on its own thread finds nothing to wait for."""
        self._check_open()
        os.fsync(self._fd)

    def digest(self) -> Digest:
        """The digest of everything written so far."""
        return self._hasher.digest()

    def commit(self, expected_size: int | None = None, expected_digest: Digest | str | None = None) -> Digest:
        """Verify size and digest, publish the blob atomically, and return its digest.

        The expectations given here and to the constructor must all hold. On a mismatch the ingest is
        removed and ``DigestMismatch`` raised: nothing becomes visible. If the blob is already
        present (another writer got there first) the commit succeeds all the same.
        """
        self._check_open()
        want_digest = Digest.parse(expected_digest) if isinstance(expected_digest, str) else expected_digest
        for size in (expected_size, self.expected_size):
            if size is not None and size != self.offset:
                self.abort()
                raise DigestMismatch(f"blob {self.ref!r}: size is {self.offset}, expected {size}")
        actual = self.digest()
        for want in (want_digest, self.expected_digest):
            if want is not None and want != actual:
                self.abort()
                raise DigestMismatch(f"blob {self.ref!r}: digest is {actual}, expected {want}")
        os.fsync(self._fd)
        os.fchmod(self._fd, 0o444)  # published blobs are immutable
        target = self._store.blob_path(actual)
        with self._store.gc_guard():
            if not target.exists():
                created = not target.parent.exists()
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(self._dir / "data", target)
                fsync_dir(target.parent)
                if created:
                    fsync_dir(target.parent.parent)
            if self._lease is not None:
                self._store.lease_content(self._lease, actual)
        self._remove()
        return actual

    def close(self) -> None:
        """Stop writing but keep the ingest, so the same ref can resume it later."""
        if self._fd >= 0:
            os.close(self._fd)
            os.close(self._lock)
            self._fd = -1

    def abort(self) -> None:
        """Throw the ingest away."""
        if self._fd >= 0:
            self._remove()

    def _remove(self) -> None:
        # Remove while still holding the lock, so no one opens a half-deleted ingest.
        remove_tree(self._dir)
        with contextlib.suppress(OSError):
            fsync_dir(self._dir.parent)
        self.close()
        self._store.ingest_finished()

    def _check_open(self) -> None:
        if self._fd < 0:
            raise InvalidState(f"ingest {self.ref!r} is closed")

    @contextlib.contextmanager
    def discarded_on_error(self) -> Iterator[Writer]:
        """The writer for one ``with`` block that must commit it: an error inside throws the ingest
        away (plain ``with`` keeps it to resume), and the writer is closed either way."""
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self.abort()
            raise
        finally:
            self.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def remove_if_stale(directory: Path, older_than: float) -> bool:
    """Remove an ingest no writer holds that was last written before ``older_than``; say if it was."""
    fd = try_lock(directory)
    if fd is None:
        return False
    try:
        st = status(directory)
        updated = st.updated if st is not None else os.stat(directory).st_mtime
        if updated >= older_than:
            return False
        remove_tree(directory)
        return True
    finally:
        os.close(fd)
