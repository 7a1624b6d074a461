"""Debian and Ubuntu packages: dpkg's status database (``var/lib/dpkg/status``, and the one stanza
per file of ``var/lib/dpkg/status.d/`` that distroless images use), with licences from the
machine-readable copyright files (DEP-5) under ``usr/share/doc/<package>/``."""

from __future__ import annotations

from functools import partial

from berth.inventory.model import Package
from berth.inventory.purl import cpe, purl
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, layers_added, readable, text
from berth.inventory.sources._stanzas import Stanza, every, first, stanzas

STATUS = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"
_DOC = "usr/share/doc/"
#: deb-control(5) Status: the last word is the state; in these two no files are installed.
_NOT_INSTALLED = {"not-installed", "config-files"}


def wants(path: str) -> bool:
    """dpkg's status records and the copyright files."""
    if path == STATUS:
        return True
    if path.startswith(STATUS_DIR):
        return "/" not in path[len(STATUS_DIR) :] and not path.endswith(".md5sums")
    return path.startswith(_DOC) and path.endswith("/copyright") and path.count("/") == 4


def _is_status(path: str) -> bool:
    return path == STATUS or (path.startswith(STATUS_DIR) and wants(path))


def _installed(path: str, data: bytes) -> dict[tuple[str, str], Stanza]:
    """The installed packages of one status file, by (name, architecture)."""
    records = {}
    for stanza in stanzas(text(data, path), path):
        name, version = first(stanza, "Package"), first(stanza, "Version")
        if not name or not version:
            raise RecordError(f"{path}: a stanza without Package or Version")
        if first(stanza, "Status").rpartition(" ")[2] in _NOT_INSTALLED:
            continue
        records[(name, first(stanza, "Architecture"))] = stanza
    return records


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The installed dpkg packages of the image; a status file that cannot be read is skipped."""
    found = []
    for path, kept, records in readable(image, _is_status, _installed, warn):
        added = layers_added(kept, partial(_installed, path))
        for key, stanza in sorted(records.items()):
            found.append(_package(stanza, image, path, added[key]))
    return found


def _package(stanza: Stanza, image: ImageFiles, path: str, layer: int) -> Package:
    name, version, arch = first(stanza, "Package"), first(stanza, "Version"), first(stanza, "Architecture")
    # deb-control(5) Source: "name" or "name (version)" when the source version differs.
    source, _, source_version = first(stanza, "Source").partition(" (")
    distro_id, distro_version = image.distro
    namespace = distro_id or "debian"
    return Package(
        type="deb",
        name=name,
        version=version,
        purl=purl(
            "deb",
            name,
            version,
            namespace,
            {"arch": arch, "distro": f"{namespace}-{distro_version}" if distro_version else ""},
        ),
        cpe=cpe(name, name, version),
        layer=image.layers[layer],
        path=path,
        licenses=copyright_licenses(image, name),
        arch=arch,
        source_name=source or name,
        source_version=source_version.rstrip(")") or version,
    )


def copyright_licenses(image: ImageFiles, name: str) -> tuple[str, ...]:
    """The licences a DEP-5 copyright file of the package names (``License:`` of its header and
    ``Files`` stanzas); none when the file is missing or not machine-readable."""
    kept = image.files.get(f"{_DOC}{name}/copyright")
    if kept is None:
        return ()
    try:
        paragraphs = stanzas(kept.data.decode("utf-8", "replace"), name)
    except RecordError:
        return ()
    # DEP-5: the header stanza's Format field names the specification; other files are free text.
    if not paragraphs or not first(paragraphs[0], "Format"):
        return ()
    names: set[str] = set()
    for stanza in paragraphs:
        if stanza is paragraphs[0] or first(stanza, "Files"):
            names.update(value.split("\n")[0].strip() for value in every(stanza, "License"))
    return tuple(sorted(n for n in names if n))
