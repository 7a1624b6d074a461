"""image/store: verified writes, atomic publication, resumable ingests, leases."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import AlreadyExists, DigestMismatch, InvalidArgument, InvalidState, NotFound
from berth.image.store import ContentStore
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest


def visible(store: ContentStore) -> list[Digest]:
    return sorted(i.digest for i in store.list())


def test_put_read_info_list_delete(store: ContentStore) -> None:
    d = store.put(b"hello")
    assert d == Digest.of(b"hello")
    assert store.exists(d) and store.read(d) == b"hello"
    assert store.path(d) == store.root / "blobs" / "sha256" / d.encoded
    assert store.info(d).size == 5
    with store.open(str(d)) as fh:
        assert fh.read() == b"hello"
    assert stat.S_IMODE(os.stat(store.path(d)).st_mode) == 0o444
    assert visible(store) == [d]
    assert store.put(b"hello", expected=d) == d  # already present: fine
    store.delete(d)
    assert not store.exists(d) and visible(store) == []
    for call in (store.delete, store.info, store.open, store.path, store.read):
        with pytest.raises(NotFound, match=f"blob {d} not found"):
            call(d)
    assert store.ingests() == []


def test_put_with_wrong_digest_or_size_leaves_nothing(store: ContentStore) -> None:
    with pytest.raises(DigestMismatch, match="expected sha256:"):
        store.put(b"hello", expected=Digest.of(b"other"))
    with pytest.raises(DigestMismatch, match="size is 5, expected 6"):
        store.put(b"hello", expected=Descriptor("application/octet-stream", Digest.of(b"hello"), 6))
    assert visible(store) == [] and store.ingests() == []


def test_sha512_blobs(store: ContentStore) -> None:
    d = store.put(b"x", expected=Digest.of(b"x", "sha512"))
    assert store.path(d).parent.name == "sha512" and store.read(d) == b"x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"expected_size": 4}, "size is 3, expected 4"), ({"expected_digest": Digest.of(b"abd")}, "digest is")],
)
def test_commit_mismatch_leaves_nothing(store: ContentStore, kwargs: dict[str, object], message: str) -> None:
    w = store.writer("ref", **kwargs)  # type: ignore[arg-type]
    w.write(b"abc")
    with pytest.raises(DigestMismatch, match=message):
        w.commit()
    assert visible(store) == [] and store.ingests() == []
    with pytest.raises(InvalidState, match="closed"):
        w.write(b"more")


def test_commit_checks_its_own_arguments(store: ContentStore) -> None:
    with store.writer("ref") as w:
        w.write(b"abc")
        with pytest.raises(DigestMismatch):
            w.commit(3, "sha256:" + "0" * 64)
    assert visible(store) == []
    with store.writer("ref2") as w:
        w.write(b"abc")
        assert w.commit(3, str(Digest.of(b"abc"))) == Digest.of(b"abc")


def test_uncommitted_write_is_invisible_and_resumable(store: ContentStore) -> None:
    data = os.urandom(3 << 20)
    with store.writer("layer", expected_digest=Digest.of(data), expected_size=len(data)) as w:
        w.write(data[:1000])
    assert visible(store) == []
    [status] = store.ingests()
    assert (status.ref, status.offset) == ("layer", 1000)
    with store.writer("layer", expected_digest=Digest.of(data), expected_size=len(data)) as w:
        assert w.offset == 1000
        w.write(data[1000:])
        assert w.commit() == Digest.of(data)
    assert store.read(Digest.of(data)) == data and store.ingests() == []


def test_resume_with_more_than_expected_restarts(store: ContentStore) -> None:
    with store.writer("r") as w:
        w.write(b"0123456789")
    with store.writer("r", expected_size=4) as w:
        assert w.offset == 0
        w.write(b"abcd")
        w.commit()


def test_truncate_rehashes(store: ContentStore) -> None:
    with store.writer("t") as w:
        w.write(b"hello world")
        w.truncate(5)
        assert (w.offset, w.digest()) == (5, Digest.of(b"hello"))
        with pytest.raises(InvalidArgument):
            w.truncate(6)
        assert w.commit() == Digest.of(b"hello")


def test_one_writer_per_ref(store: ContentStore) -> None:
    with store.writer("busy"):
        with pytest.raises(InvalidState, match="in use by another writer"):
            store.writer("busy")
        with pytest.raises(InvalidState):
            store.abort("busy")
    store.abort("busy")
    assert store.ingests() == []
    with pytest.raises(NotFound):
        store.abort("busy")


def test_writer_for_present_blob_raises_already_exists(store: ContentStore) -> None:
    d = store.put(b"there")
    with pytest.raises(AlreadyExists, match=str(d)):
        store.writer("again", expected_digest=d)


def test_concurrent_writers_of_the_same_blob_both_succeed(store: ContentStore) -> None:
    data = os.urandom(1 << 20)
    results: list[Digest] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(i: int) -> None:
        try:
            with store.writer(f"w{i}") as w:
                barrier.wait()
                for off in range(0, len(data), 65536):
                    w.write(data[off : off + 65536])
                results.append(w.commit(len(data), Digest.of(data)))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [Digest.of(data)] * 4
    assert store.read(Digest.of(data)) == data and store.ingests() == []


def test_invalid_inputs(store: ContentStore) -> None:
    with pytest.raises(InvalidArgument):
        store.writer("")
    with pytest.raises(InvalidArgument):
        store.writer("r", expected_size=-1)
    with pytest.raises(InvalidArgument):
        store.exists("not-a-digest")
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        store.writer("r", expected_digest="md5:" + "0" * 32)
    assert store.ingests() == []


def test_corrupt_blob_is_detected_on_read(store: ContentStore) -> None:
    d = store.put(b"good")
    p = store.path(d)
    os.chmod(p, 0o644)
    p.write_bytes(b"evil")
    with pytest.raises(DigestMismatch, match="corrupt"):
        store.read(d)
    assert store.read(d, verify=False) == b"evil"


def test_leases(store: ContentStore) -> None:
    lease = store.leases.create("pull-1", expires_in=60)
    assert store.leases.get("pull-1") == lease and not lease.expired()
    d = store.put(b"x", lease=lease)
    with store.writer("in-flight", lease="pull-1") as w:
        w.write(b"y")
    assert store.leases.resources("pull-1") == [("content", str(d)), ("ingest", "in-flight")]
    with pytest.raises(InvalidArgument, match="already exists"):
        store.leases.create("pull-1")
    with pytest.raises(NotFound):
        store.leases.add("nope", "content", str(d))
    store.leases.delete("pull-1")
    assert store.leases.list() == []
    with pytest.raises(NotFound):
        store.leases.delete("pull-1")
    assert store.leases.create(expires_in=-1).expired()


def test_plain_blob_directory_has_no_leases(tmp_path: Path) -> None:
    plain = ContentStore(tmp_path / "layout", ingest_root=tmp_path / "layout" / ".ingest", collectable=False)
    plain.put(b"z")
    assert not (tmp_path / "layout" / ".ingest").exists()
    assert not (tmp_path / "layout" / "metadata.db").exists()
    with pytest.raises(InvalidArgument, match="no leases"):
        plain.put(b"q", lease="l")


def test_unknown_lease_fails_before_writing(store: ContentStore) -> None:
    with pytest.raises(NotFound, match="lease 'ghost' not found"):
        store.put(b"data", lease="ghost")
    with pytest.raises(NotFound, match="lease 'ghost' not found"):
        store.writer("r", lease="ghost")
    assert visible(store) == [] and store.ingests() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096), st.data())
def test_any_chunking_and_resume_point_gives_the_same_blob(
    tmp_path: Path, data: bytes, draw: st.DataObject
) -> None:
    store = ContentStore(tmp_path / f"prop-{secrets.token_hex(4)}")
    split = draw.draw(st.integers(0, len(data)))
    with store.writer("p") as w:
        w.write(data[:split])
    with store.writer("p", expected_size=len(data)) as w:
        pos = w.offset
        while pos < len(data):
            step = draw.draw(st.integers(1, len(data) - pos))
            w.write(data[pos : pos + step])
            pos += step
        assert w.commit(expected_digest=Digest.of(data)) == Digest.of(data)
    assert store.read(Digest.of(data)) == data and store.ingests() == []
