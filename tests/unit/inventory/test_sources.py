"""Package sources over kept files: dpkg, apk, Python and npm records, attribution, bad records."""

from __future__ import annotations

import json

from berth.inventory.layerfiles import KeptFile
from berth.inventory.sources import apk, dpkg, npm, python
from berth.inventory.sources._common import ImageFiles

LAYERS = ("sha256:l0", "sha256:l1", "sha256:l2")

STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9)
Version: 2.36-9+deb12u1
Description: GNU C Library
 continuation line

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4
"""

COPYRIGHT = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-2+
 text of the notice

Files: x/*
License: Expat

License: GPL-2+
 The full text.
"""


def image(
    files: dict[str, list[tuple[int, bytes]]], distro: tuple[str, str] = ("debian", "12")
) -> ImageFiles:
    return ImageFiles({p: KeptFile(list(v)) for p, v in files.items()}, LAYERS, distro)


def test_dpkg_reads_installed_packages_sources_and_dep5_licences() -> None:
    seen: list[str] = []
    found = dpkg.packages(
        image({dpkg.STATUS: [(0, STATUS)], "usr/share/doc/libc6/copyright": [(0, COPYRIGHT)]}), seen.append
    )
    assert seen == []
    assert [(p.name, p.version, p.source_name, p.source_version) for p in found] == [
        ("base-files", "12.4", "base-files", "12.4"),
        ("libc6", "2.36-9+deb12u1", "glibc", "2.36-9"),
    ]
    libc = found[1]
    assert libc.licenses == ("Expat", "GPL-2+")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12"
    assert libc.cpe == "cpe:2.3:a:libc6:libc6:2.36-9\\+deb12u1:*:*:*:*:*:*:*"


def test_dpkg_attributes_each_package_to_the_layer_that_last_changed_its_stanza() -> None:
    upgraded = STATUS.replace(b"Version: 12.4", b"Version: 12.5")
    found = dpkg.packages(image({dpkg.STATUS: [(0, STATUS), (1, STATUS), (2, upgraded)]}), print)
    assert {p.name: p.layer for p in found} == {"base-files": "sha256:l2", "libc6": "sha256:l0"}


def test_a_corrupt_status_file_is_skipped_with_a_warning_and_others_still_read() -> None:
    seen: list[str] = []
    files = {
        dpkg.STATUS: [(0, b"Package: x\nthis line is no field\n")],
        "var/lib/dpkg/status.d/tzdata": [
            (0, b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")
        ],
    }
    found = dpkg.packages(image(files), seen.append)
    assert [p.name for p in found] == ["tzdata"]
    assert seen == ["skipped var/lib/dpkg/status: line 2: not a 'Field: value' line"]


def test_apk_installed_database() -> None:
    db = (
        b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\n"
        b"P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n"
    )
    found = apk.packages(image({apk.INSTALLED: [(1, db)]}, ("alpine", "3.19.1")), print)
    assert [(p.name, p.version, p.licenses, p.layer) for p in found] == [
        ("busybox", "1.36.1-r5", ("GPL-2.0-only",), "sha256:l1"),
        ("musl", "1.2.4-r2", ("MIT",), "sha256:l1"),
    ]
    assert found[1].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"


def test_python_metadata_names_are_normalised_in_purls() -> None:
    meta = (
        b"Metadata-Version: 2.1\nName: Zope.Interface\nVersion: 6.0\n"
        b"Classifier: License :: OSI Approved :: Zope Public License\n\nbody: not a header\n"
    )
    files = {
        "usr/lib/python3/dist-packages/zope.interface-6.0.dist-info/METADATA": [(0, meta)],
        "usr/lib/python3/dist-packages/old.egg-info/PKG-INFO": [
            (0, b"Name: old\nVersion: 1\nLicense: MIT\n")
        ],
        "usr/lib/python3/dist-packages/bad.dist-info/METADATA": [(0, b"Name: bad\n")],
    }
    seen: list[str] = []
    found = python.packages(image(files), seen.append)
    assert [(p.name, p.purl, p.licenses) for p in found] == [
        ("old", "pkg:pypi/old@1", ("MIT",)),
        ("Zope.Interface", "pkg:pypi/zope-interface@6.0", ("Zope Public License",)),
    ]
    assert seen == ["skipped usr/lib/python3/dist-packages/bad.dist-info/METADATA: no Name or Version field"]


def test_npm_manifests_of_installed_packages_only() -> None:
    def manifest(name: str, **extra: object) -> list[tuple[int, bytes]]:
        return [(0, json.dumps({"name": name, "version": "1.0.0", **extra}).encode())]

    files = {
        "app/node_modules/@scope/pkg/package.json": manifest("@scope/pkg", license="MIT"),
        "app/node_modules/a/node_modules/b/package.json": manifest("b", licenses=[{"type": "ISC"}]),
        "app/node_modules/a/lib/package.json": manifest("not-a-package"),
        "app/node_modules/broken/package.json": [(0, b"{not json")],
    }
    assert not npm.wants("app/node_modules/a/lib/package.json")
    seen: list[str] = []
    found = npm.packages(image(files), seen.append)
    assert [(p.name, p.purl, p.licenses) for p in found] == [
        ("@scope/pkg", "pkg:npm/%40scope/pkg@1.0.0", ("MIT",)),
        ("b", "pkg:npm/b@1.0.0", ("ISC",)),
    ]
    assert seen == [
        "skipped app/node_modules/broken/package.json: not JSON"
        " (Expecting property name enclosed in double quotes at line 1)"
    ]
