"""What an inventory is made of: packages found in an image, and the image they came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package, as its package manager recorded it.

    ``type`` is the purl type (``deb``, ``apk``, ``rpm``, ``pypi``, ``npm``, ``maven``);
    ``licenses`` are the licence names or expressions as the package declares them
    (``berth.inventory.licenses`` maps them to SPDX); ``layer`` is the diff ID of the layer that
    added the record, ``path`` the file it is in (``ARCHIVE!/MEMBER`` inside a Java archive).
    """

    type: str
    name: str
    version: str
    purl: str
    cpe: str
    layer: str
    path: str
    licenses: tuple[str, ...] = ()
    arch: str = ""
    source_name: str = ""
    source_version: str = ""

    @property
    def sort_key(self) -> tuple[str, str, str, str, str]:
        """Packages are listed by type, name, version, architecture and place, so output is stable."""
        return (self.type, self.name, self.version, self.arch, self.path)


@dataclass(frozen=True, slots=True)
class Inventory:
    """The packages of one image: ``name`` as the user named it, ``digest`` its manifest digest,
    ``created`` the image config's creation time (RFC 3339, may be empty), ``distro`` the ``ID``
    and ``VERSION_ID`` of its os-release (empty when it has none)."""

    name: str
    digest: str
    created: str
    layers: tuple[str, ...]
    packages: tuple[Package, ...] = field(default_factory=tuple)
    distro: tuple[str, str] = ("", "")
