"""The tar writer: tarfile reads what it writes, PAX only when needed, deterministic bytes."""

from __future__ import annotations

import io
import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from berth.image.layers import EntryType, TarEntry, TarReader, TarWriter
from berth.image.snapshots import chain_id, chain_ids
from berth.spec.digest import Digest


def _write(entries: list[tuple[TarEntry, bytes]]) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out.write)
    for entry, data in entries:
        writer.add(entry, [data] if data else None)
    writer.close()
    return out.getvalue()


_ENTRY = st.builds(
    TarEntry,
    name=st.text(alphabet="abcxyz/_é", min_size=1, max_size=300).map(lambda s: "n" + s.strip("/")),
    type=st.sampled_from([EntryType.REGULAR, EntryType.SYMLINK, EntryType.FIFO]),
    mode=st.integers(0, 0o7777),
    uid=st.integers(0, 2**32),
    gid=st.integers(0, 2**32),
    mtime_ns=st.integers(0, 2**34).map(lambda s: s * 10**9),
    linkname=st.text(alphabet="abc/", max_size=200),
    xattrs=st.dictionaries(
        st.sampled_from(["user.a", "user.b", "security.capability"]), st.binary(max_size=30)
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_ENTRY, st.binary(max_size=2000)), max_size=8))
def test_tarwriter_round_trips_through_tarfile_and_tarreader(entries: list[tuple[TarEntry, bytes]]) -> None:
    for entry, data in entries:
        entry.size = len(data) if entry.type is EntryType.REGULAR else 0
        if entry.type is not EntryType.SYMLINK:
            entry.linkname = ""
    raw = _write([(e, d if e.type is EntryType.REGULAR else b"") for e, d in entries])
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = [m.name for m in tar]
    assert names == [e.name for e, _ in entries]
    reader = TarReader([raw])
    for (want, data), got in zip(entries, reader, strict=True):
        assert got == want
        assert reader.read_data() == (data if want.type is EntryType.REGULAR else b"")


def test_tarwriter_uses_plain_ustar_when_everything_fits() -> None:
    raw = _write([(TarEntry("etc/hostname", EntryType.REGULAR, size=5, mtime_ns=10**9), b"host\n")])
    assert len(raw) == 512 + 512 + 1024  # header, data block, end-of-archive
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        (member,) = tar.getmembers()
        assert member.pax_headers == {}


def test_tarwriter_is_deterministic() -> None:
    entries = [(TarEntry("a" * 150, EntryType.REGULAR, size=3, xattrs={"user.x": b"1"}), b"abc")]
    assert _write(entries) == _write(entries)


def test_chain_id_follows_config_md() -> None:
    d0 = Digest.of(b"layer0")
    d1 = Digest.of(b"layer1")
    import hashlib

    expected = hashlib.sha256(f"{d0} {d1}".encode()).hexdigest()
    assert chain_id(None, d0) == d0
    assert chain_ids([d0, d1]) == [d0, Digest("sha256", expected)]
