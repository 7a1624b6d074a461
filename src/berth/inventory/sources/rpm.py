"""RPM packages: rpm's sqlite database (``var/lib/rpm/rpmdb.sqlite``, or
``usr/lib/sysimage/rpm/rpmdb.sqlite`` where the distribution moved it), one header blob per
installed package in its ``Packages`` table.

A header blob (rpm's ``docs/manual/format_header.md``, the header without its leading magic) is
two big-endian 32-bit counts, index entries then data bytes, then the index entries (tag, type,
offset into the data, count; 16 bytes each) and the data. Strings end with a NUL; an
I18NSTRING's first string is the untranslated one.
"""

from __future__ import annotations

import struct
from functools import partial

from berth.inventory.model import Package
from berth.inventory.purl import cpe, purl
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, layers_added

DATABASES = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
_WAL = "-wal"
_WANTED = frozenset([*DATABASES, *(path + _WAL for path in DATABASES)])

# rpm's rpmtag.h: the tags read, and the data types of their values.
_NAME, _VERSION, _RELEASE, _EPOCH, _LICENSE, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
_INT32, _STRING, _I18NSTRING = 4, 6, 9
#: The public keys rpm imports show as packages named gpg-pubkey; they are not software.
_PUBKEY = "gpg-pubkey"

Header = dict[int, str | int]


def wants(path: str) -> bool:
    """The rpm databases and their write-ahead logs."""
    return path in _WANTED


def header(blob: bytes, where: str) -> Header:
    """The tags Berth reads from one header blob; ``RecordError`` if the blob is cut short."""
    try:
        count, size = struct.unpack_from(">ii", blob)
        data = blob[8 + 16 * count :]
        if count < 0 or len(data) < size:
            raise RecordError(f"{where}: a header blob shorter than its counts say")
        found: Header = {}
        for index in range(count):
            tag, kind, offset, _ = struct.unpack_from(">iiii", blob, 8 + 16 * index)
            if tag not in (_NAME, _VERSION, _RELEASE, _EPOCH, _LICENSE, _ARCH, _SOURCERPM):
                continue
            if kind == _INT32:
                found[tag] = struct.unpack_from(">i", data, offset)[0]
            elif kind in (_STRING, _I18NSTRING):
                end = data.index(b"\0", offset)
                found[tag] = data[offset:end].decode("utf-8", "replace")
    except (struct.error, ValueError):
        raise RecordError(f"{where}: a header blob that cannot be read") from None
    return found


def _installed(path: str, database: bytes, wal: bytes | None) -> dict[tuple[str, str], Header]:
    """The packages of one database by (name, architecture)."""
    import sqlite3
    import tempfile
    from pathlib import Path

    # sqlite reads a database from a file, with its write-ahead log beside it: a private copy.
    with tempfile.TemporaryDirectory(prefix="berth-rpmdb-") as tmp:
        copy = Path(tmp) / "rpmdb.sqlite"
        copy.write_bytes(database)
        if wal is not None:
            (Path(tmp) / ("rpmdb.sqlite" + _WAL)).write_bytes(wal)
        try:
            connection = sqlite3.connect(copy)
            try:
                blobs = [row[0] for row in connection.execute("SELECT blob FROM Packages ORDER BY hnum")]
            finally:
                connection.close()
        except sqlite3.Error as err:
            raise RecordError(f"{path}: not an rpm sqlite database ({err})") from None
    found = {}
    for number, blob in enumerate(blobs):
        tags = header(bytes(blob), f"{path}: package {number}")
        name = tags.get(_NAME)
        if not isinstance(name, str) or not isinstance(tags.get(_VERSION), str):
            raise RecordError(f"{path}: package {number} has no name or version")
        if name != _PUBKEY:
            found[(name, str(tags.get(_ARCH, "")))] = tags
    return found


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The installed rpm packages; a database that cannot be read is skipped with a warning."""
    found = []
    for path in DATABASES:
        kept = image.files.get(path)
        if kept is None:
            continue
        wal = image.files.get(path + _WAL)
        wal_data = wal.data if wal is not None else None
        try:
            records = _installed(path, kept.data, wal_data)
        except RecordError as err:
            warn(f"skipped {err}")
            continue
        # Older versions of the database are read with the current log (a log goes with one version;
        # an image that ships one mid-checkpoint is rare).
        added = layers_added(kept, partial(_installed, path, wal=wal_data))
        for key, tags in sorted(records.items()):
            found.append(_package(tags, image, path, added[key]))
    return found


def _package(tags: Header, image: ImageFiles, path: str, layer: int) -> Package:
    name, arch, epoch = str(tags[_NAME]), str(tags.get(_ARCH, "")), tags.get(_EPOCH)
    version = f"{tags[_VERSION]}-{tags.get(_RELEASE, '')}".rstrip("-")
    distro_id, distro_version = image.distro
    qualifiers = {
        "arch": arch,
        "epoch": str(epoch) if epoch is not None else "",
        "distro": f"{distro_id}-{distro_version}" if distro_id and distro_version else "",
    }
    # The source rpm is NAME-VERSION-RELEASE.src.rpm; the name may hold hyphens, the others not.
    source = str(tags.get(_SOURCERPM, "")).removesuffix(".src.rpm").removesuffix(".nosrc.rpm")
    source_name = source.rsplit("-", 2)[0] if source.count("-") >= 2 else name
    license_text = str(tags.get(_LICENSE, ""))
    return Package(
        type="rpm",
        name=name,
        version=f"{epoch}:{version}" if epoch is not None else version,
        purl=purl("rpm", name, version, distro_id, qualifiers),
        cpe=cpe(name, name, version),
        layer=image.layers[layer],
        path=path,
        licenses=(license_text,) if license_text else (),
        arch=arch,
        source_name=source_name,
        source_version=version,
    )
