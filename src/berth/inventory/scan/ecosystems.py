"""Which OSV ecosystem a package belongs to, under which name, and by which rules its versions
compare (osv-schema ``docs/schema.md#affectedpackage`` lists the ecosystems)."""

from __future__ import annotations

from dataclasses import dataclass

from berth.inventory.model import Package
from berth.inventory.purl import pep503_name

#: The version scheme (``berth.inventory.versions``) of each ecosystem Berth matches.
SCHEMES = {
    "Debian": "dpkg",
    "Ubuntu": "dpkg",
    "Alpine": "apk",
    "PyPI": "pep440",
    "npm": "semver",
    "Go": "semver",
    "Maven": "maven",
}

#: purl type -> OSV ecosystem, for the sources whose ecosystem does not depend on the distribution.
_LANGUAGE_ECOSYSTEMS = {"pypi": "PyPI", "npm": "npm", "maven": "Maven"}
_DISTRO_ECOSYSTEMS = {("deb", "debian"): "Debian", ("deb", "ubuntu"): "Ubuntu", ("apk", "alpine"): "Alpine"}


@dataclass(frozen=True, slots=True)
class Key:
    """A package as OSV names it: ecosystem (without release), name, release, and the version to
    compare. An empty ``release`` is a language ecosystem's (no release)."""

    ecosystem: str
    name: str
    release: str
    version: str


def package_key(package: Package, distro: tuple[str, str]) -> Key | None:
    """The OSV view of ``package`` in an image of ``distro`` (os-release ID, VERSION_ID), or None
    when Berth has no ecosystem for it (RPM packages, for now)."""
    if package.type == "golang":
        version = _go_version(package.version)
        return Key("Go", package.name, "", version) if version else None
    if package.type in _LANGUAGE_ECOSYSTEMS:
        ecosystem = _LANGUAGE_ECOSYSTEMS[package.type]
        return Key(ecosystem, normal_name(ecosystem, package.name), "", package.version)
    distro_id, version_id = distro
    ecosystem = _DISTRO_ECOSYSTEMS.get((package.type, distro_id or _DEFAULT_DISTRO.get(package.type, "")), "")
    if not ecosystem:
        return None
    # Debian's, Ubuntu's and Alpine's advisories name the source package and its version.
    return Key(ecosystem, package.source_name or package.name, _release(ecosystem, version_id),
               package.source_version or package.version)  # fmt: skip


_DEFAULT_DISTRO = {"deb": "debian", "apk": "alpine"}


def _go_version(version: str) -> str:
    """A Go module's version as OSV's Go ecosystem writes it; the toolchain's ``go1.21.3`` (the
    ``stdlib`` module) as ``1.21.3``, ``go1.20`` as ``1.20.0``; "" for a main module built from
    a work tree (``(devel)``)."""
    if version == "(devel)":
        return ""
    if version.startswith("go"):
        numbers = version[2:]
        return numbers + ".0" if numbers.count(".") == 1 else numbers
    return version


def _release(ecosystem: str, version_id: str) -> str:
    # Alpine's ecosystems are "Alpine:v3.19" for VERSION_ID 3.19.1; Debian's "Debian:12".
    if ecosystem == "Alpine" and version_id:
        return "v" + ".".join(version_id.split(".")[:2])
    return version_id


def split_ecosystem(ecosystem: str) -> tuple[str, str]:
    """``Debian:12`` -> (``Debian``, ``12``); ``Ubuntu:22.04:LTS`` -> (``Ubuntu``, ``22.04``);
    ``PyPI`` -> (``PyPI``, "")."""
    base, _, rest = ecosystem.partition(":")
    return base, rest.partition(":")[0]


def normal_name(ecosystem: str, name: str) -> str:
    """A package name as compared within its ecosystem (PyPI's by PEP 503)."""
    return pep503_name(name) if ecosystem == "PyPI" else name
