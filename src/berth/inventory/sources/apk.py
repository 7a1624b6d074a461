"""Alpine packages: apk's installed database (``lib/apk/db/installed``), one record per package
of ``X:value`` lines (apk-tools' database format: P name, V version, A architecture, L licence,
o origin, the source package)."""

from __future__ import annotations

from berth.inventory.model import Package
from berth.inventory.purl import cpe, purl
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, layers_added, text

INSTALLED = "lib/apk/db/installed"


def wants(path: str) -> bool:
    """apk's installed database."""
    return path == INSTALLED


def _records(data: bytes) -> dict[tuple[str, str], dict[str, str]]:
    """The packages of the database by (name, architecture): each its first value per letter."""
    found = {}
    for block in text(data, INSTALLED).split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) < 2 or line[1] != ":":
                raise RecordError(f"{INSTALLED}: not a 'X:value' line: {line[:40]!r}")
            fields.setdefault(line[0], line[2:])
        if not fields:
            continue
        if not fields.get("P") or not fields.get("V"):
            raise RecordError(f"{INSTALLED}: a record without P (name) or V (version)")
        found[(fields["P"], fields.get("A", ""))] = fields
    return found


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The installed apk packages; an unreadable database is skipped with a warning."""
    kept = image.files.get(INSTALLED)
    if kept is None:
        return []
    try:
        records = _records(kept.data)
    except RecordError as err:
        warn(f"skipped {err}")
        return []
    distro_id, distro_version = image.distro
    namespace = distro_id or "alpine"
    added = layers_added(kept, _records)
    found = []
    for key, fields in sorted(records.items()):
        name, version, arch = fields["P"], fields["V"], fields.get("A", "")
        distro = f"{namespace}-{distro_version}" if distro_version else ""
        found.append(
            Package(
                type="apk",
                name=name,
                version=version,
                purl=purl("apk", name, version, namespace, {"arch": arch, "distro": distro}),
                cpe=cpe(name, name, version),
                layer=image.layers[added[key]],
                path=INSTALLED,
                licenses=(fields["L"],) if fields.get("L") else (),
                arch=arch,
                source_name=fields.get("o", name),
                source_version=version,
            )
        )
    return found
