"""Load a vulnerability database: OSV JSON records from a directory (every ``*.json`` below it),
a zip, a tar, or a registry artifact made by ``berth vulndb push`` (``docker://HOST/REPO:TAG``).

Every record is validated; the first that does not validate stops the load with one line naming
its file and field. Withdrawn records are kept out.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from berth.errors import InvalidArgument
from berth.inventory.scan.ecosystems import SCHEMES, split_ecosystem
from berth.inventory.scan.osv import InvalidRecord, Record, parse_record

if TYPE_CHECKING:
    from berth.distribution.transports import TransportContext

#: Records larger than this are refused (the largest OSV records are a few hundred KiB).
MAX_RECORD = 16 << 20


def load(spec: str, ctx: TransportContext | None = None) -> list[Record]:
    """The records of the database ``spec`` names: a directory, a zip or tar file, or
    ``docker://REFERENCE`` (fetched with ``ctx``'s registry settings)."""
    if spec.startswith("docker://"):
        from berth.inventory.scan.vulndb import pull

        name, data = pull(spec.removeprefix("docker://"), ctx)
        return records_of(_archive_files(name, data))
    path = Path(spec)
    if path.is_dir():
        return records_of(_directory_files(path))
    if path.is_file():
        return records_of(_archive_files(spec, path.read_bytes()))
    raise InvalidArgument(f"vulnerability database {spec}: no such directory or file")


def records_of(files: Iterator[tuple[str, bytes]]) -> list[Record]:
    """The validated, not withdrawn records of (name, JSON bytes) files, in name order."""
    found = []
    for name, data in sorted(files):
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError) as err:
            raise InvalidRecord(f"{name}: not JSON ({err})") from None
        record = parse_record(value, name)
        check_versions(record)
        if not record.withdrawn:
            found.append(record)
    return found


def check_versions(record: Record) -> None:
    """Refuse a record whose ECOSYSTEM or SEMVER event versions its ecosystem's rules cannot read."""
    from berth.inventory.versions import VersionError, comparator, semver

    for index, entry in enumerate(record.affected):
        scheme = SCHEMES.get(split_ecosystem(entry.ecosystem)[0])
        for number, item in enumerate(entry.ranges):
            compare = semver.compare if item.type == "SEMVER" else comparator(scheme) if scheme else None
            if compare is None or item.type == "GIT":
                continue
            for event, (kind, version) in enumerate(item.events):
                if (kind, version) in (("introduced", "0"), ("limit", "*")):
                    continue
                try:
                    compare(version, version)
                except VersionError as err:
                    where = f"affected[{index}].ranges[{number}].events[{event}].{kind}"
                    raise InvalidRecord(f"{record.source}: {where}: {err}") from None


def _directory_files(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in root.rglob("*.json"):
        if path.is_file():
            _check_size(str(root), str(path.relative_to(root)), path.stat().st_size)
            yield str(path), path.read_bytes()


def _archive_files(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The ``*.json`` members of a zip or tar (told apart by their first bytes)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        yield from _zip_files(name, data)
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".json"):
                    _check_size(name, member.name, member.size)
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file
                    yield f"{name}:{member.name}", extracted.read()
    except tarfile.TarError:
        raise InvalidArgument(f"vulnerability database {name}: neither a zip nor a tar file") from None


def _zip_files(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir() and info.filename.endswith(".json"):
                    _check_size(name, info.filename, info.file_size)
                    yield f"{name}:{info.filename}", archive.read(info)
    except zipfile.BadZipFile as err:
        raise InvalidArgument(f"vulnerability database {name}: a broken zip file ({err})") from None


def _check_size(name: str, member: str, size: int) -> None:
    if size > MAX_RECORD:
        raise InvalidRecord(f"{name}:{member}: larger than {MAX_RECORD} bytes")
