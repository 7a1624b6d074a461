"""The streaming tar reader against Python's tarfile: same entries for any archive it writes;
nothing but Berth errors for junk."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import BerthError
from berth.image.layers import EntryType, InvalidLayer, TarEntry, TarReader

_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.é", min_size=1, max_size=40).filter(
    lambda s: s not in (".", "..")
)
_KIND = st.sampled_from(["file", "dir", "symlink", "hardlink", "char", "block", "fifo"])
_FORMAT = st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])


@st.composite
def archives(draw: st.DrawFn) -> tuple[bytes, list[tuple[tarfile.TarInfo, bytes]]]:
    """A tar archive of a random tree written by tarfile, and what tarfile put in it."""
    fmt = draw(_FORMAT)
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    files: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        depth = draw(st.integers(1, 5 if fmt != tarfile.USTAR_FORMAT else 2))
        name = "/".join(draw(_NAME) for _ in range(depth))
        if fmt == tarfile.USTAR_FORMAT and len(name.encode()) > 99:
            continue
        kind = draw(_KIND)
        info = tarfile.TarInfo(name)
        info.mode = draw(st.integers(0, 0o7777))
        info.uid = draw(st.integers(0, 2**21 - 1 if fmt == tarfile.USTAR_FORMAT else 2**32))
        info.gid = draw(st.integers(0, 2**21 - 1 if fmt == tarfile.USTAR_FORMAT else 2**32))
        info.mtime = draw(st.integers(0, 2**33 - 1))
        info.uname = draw(st.sampled_from(["", "root", "berth"]))
        data = b""
        if kind == "file":
            data = draw(st.binary(max_size=3000))
            info.size = len(data)
            files.append(name)
        elif kind == "dir":
            info.type = tarfile.DIRTYPE
        elif kind == "symlink":
            info.type = tarfile.SYMTYPE
            info.linkname = draw(_NAME) * draw(st.integers(1, 8 if fmt != tarfile.USTAR_FORMAT else 1))
        elif kind == "hardlink":
            if not files:
                continue
            info.type = tarfile.LNKTYPE
            info.linkname = draw(st.sampled_from(files))
        elif kind in ("char", "block"):
            info.type = tarfile.CHRTYPE if kind == "char" else tarfile.BLKTYPE
            info.devmajor, info.devminor = draw(st.integers(0, 4095)), draw(st.integers(0, 2**20 - 1))
        else:
            info.type = tarfile.FIFOTYPE
        if fmt == tarfile.PAX_FORMAT and draw(st.booleans()):
            info.pax_headers = {"SCHILY.xattr.user.test": draw(st.text(max_size=20))}
        members.append((info, data))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue(), members


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


_TYPES = {
    tarfile.REGTYPE: EntryType.REGULAR,
    tarfile.DIRTYPE: EntryType.DIR,
    tarfile.SYMTYPE: EntryType.SYMLINK,
    tarfile.LNKTYPE: EntryType.HARDLINK,
    tarfile.CHRTYPE: EntryType.CHAR,
    tarfile.BLKTYPE: EntryType.BLOCK,
    tarfile.FIFOTYPE: EntryType.FIFO,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archives(), st.integers(1, 4096))
def test_tarreader_matches_tarfile(
    archive: tuple[bytes, list[tuple[tarfile.TarInfo, bytes]]], chunk: int
) -> None:
    data, _members = archive
    expected = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            body = tar.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            expected.append(info_tuple(info, body))
    got = []
    reader = TarReader(_chunked(data, chunk))
    for entry in reader:
        got.append(entry_tuple(entry, reader.read_data()))
    assert got == expected


def info_tuple(info: tarfile.TarInfo, body: bytes) -> tuple[object, ...]:
    name = info.name + "/" if info.isdir() and not info.name.endswith("/") else info.name
    xattrs = {
        k[len("SCHILY.xattr.") :]: v.encode() for k, v in info.pax_headers.items() if k.startswith("SCHILY.")
    }
    dev = (info.devmajor, info.devminor) if info.ischr() or info.isblk() else (0, 0)
    return (
        name.rstrip("/"),
        _TYPES[info.type],
        info.mode,
        info.uid,
        info.gid,
        int(info.mtime),
        info.linkname,
        info.uname,
        dev,
        xattrs,
        body,
    )


def entry_tuple(entry: TarEntry, body: bytes) -> tuple[object, ...]:
    return (
        entry.name.rstrip("/"),
        entry.type,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.mtime_ns // 10**9,
        entry.linkname,
        entry.uname,
        (entry.devmajor, entry.devminor),
        entry.xattrs,
        body,
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000), st.integers(1, 700))
def test_tarreader_junk_raises_only_berth_errors(junk: bytes, chunk: int) -> None:
    reader = TarReader(_chunked(junk, chunk))
    try:
        for _entry in reader:
            reader.read_data()
    except BerthError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archives(), st.data())
def test_tarreader_mutated_archive_raises_only_berth_errors(
    archive: tuple[bytes, list[tuple[tarfile.TarInfo, bytes]]], data: st.DataObject
) -> None:
    raw = bytearray(archive[0])
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    reader = TarReader([bytes(raw[:cut])])
    try:
        for _entry in reader:
            reader.read_data()
    except BerthError:
        pass


def test_tarreader_truncated_data_names_the_offset() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big")
        info.size = 5000
        tar.addfile(info, io.BytesIO(bytes(5000)))
    reader = TarReader([buf.getvalue()[:3000]])
    with pytest.raises(InvalidLayer, match="truncated at offset"):
        for _entry in reader:
            reader.read_data()


def test_tarreader_refuses_a_bad_checksum() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO())
    raw = bytearray(buf.getvalue())
    raw[0] ^= 1
    with pytest.raises(InvalidLayer, match="checksum"):
        list(TarReader([bytes(raw)]))


def test_tarreader_gnu_long_names_and_base256_ids() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("d/" + "n" * 300)
        info.uid = 2**40
        info.type = tarfile.SYMTYPE
        info.linkname = "t" * 250
        tar.addfile(info)
    (entry,) = list(TarReader([buf.getvalue()]))
    assert (entry.name, entry.linkname, entry.uid) == ("d/" + "n" * 300, "t" * 250, 2**40)


@pytest.mark.parametrize(("key", "value"), [("size", "-5"), ("uid", "-1"), ("size", "+5"), ("gid", "1e3")])
def test_tarreader_refuses_signed_pax_numbers(key: str, value: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = {key: value}
        tar.addfile(info, io.BytesIO())
    with pytest.raises(InvalidLayer, match=f"bad {key}"):
        list(TarReader([buf.getvalue()]))


def test_tarreader_refuses_a_signed_octal_size() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo("f"), io.BytesIO())
    raw = bytearray(buf.getvalue())
    raw[124:136] = b"-0000000005\0"
    raw[148:156] = b"%06o\0 " % (sum(raw[:148]) + 8 * 32 + sum(raw[156:512]))
    with pytest.raises(InvalidLayer, match="bad size"):
        list(TarReader([bytes(raw)]))
