"""``berth sbom`` end to end: handmade layered images, a Debian root from mmdebstrap, a Python
site-packages and a node_modules tree, each against the real tool's answer, and both documents
validated by spdx-tools and cyclonedx-python-lib."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from berth.inventory.purl import pep503_name
from tests.integration.inventory.images import layer_tar, store_image
from tests.integration.inventory.runner import Sbom

pytestmark = pytest.mark.timeout(300)


def spdx_packages(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The document's packages (the image left out) by (purl type, name)."""
    found = {}
    for package in doc["packages"][1:]:
        purl = package["externalRefs"][0]["referenceLocator"]
        found[(purl[4 : purl.index("/")], package["name"])] = package
    return found


def cdx_layers(doc: dict[str, Any]) -> dict[str, str]:
    """Each component's name and the layer its properties name."""
    props = {c["name"]: {p["name"]: p["value"] for p in c["properties"]} for c in doc["components"]}
    return {name: p["berth:layer"] for name, p in props.items()}


def stanza(name: str, version: str) -> bytes:
    return (
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n".encode()
    )


# -- handmade layered images -----------------------------------------------------------------------


def test_layers_attribution_whiteouts_and_a_skipped_bad_record(sbom: Sbom) -> None:
    status = "var/lib/dpkg/status"
    lower = layer_tar(
        {
            "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
            status: stanza("kept", "1.0") + stanza("removed", "2.0"),
            "srv/node_modules/left/package.json": b'{"name": "left", "version": "1.0.0"}',
        }
    )
    upper = layer_tar(
        {
            status: stanza("kept", "1.0") + stanza("added", "3.0-1"),
            "srv/node_modules/.wh.left": b"",
            "srv/node_modules/bad/package.json": b'{"name": "bad", ',
            "usr/lib/python3/dist-packages/new.dist-info/METADATA": b"Name: new\nVersion: 1\nLicense: MIT\n",
        }
    )
    diff_ids = store_image(sbom.root, "local/layered:1", [lower, upper])
    doc = sbom.make("local/layered:1", "cyclonedx-json")
    assert (
        sbom.err == "berth: warning: skipped srv/node_modules/bad/package.json: not JSON"
        " (Expecting property name enclosed in double quotes at line 1)\n"
    )
    assert cdx_layers(doc) == {"kept": diff_ids[0], "added": diff_ids[1], "new": diff_ids[1]}
    assert doc["metadata"]["timestamp"] == "2024-05-01T12:00:00Z"
    packages = spdx_packages(sbom.make("local/layered:1"))
    assert sorted(packages) == [("deb", "added"), ("deb", "kept"), ("pypi", "new")]
    assert packages[("deb", "added")]["externalRefs"][0]["referenceLocator"] == (
        "pkg:deb/debian/added@3.0-1?arch=amd64&distro=debian-12"
    )
    assert packages[("pypi", "new")]["licenseDeclared"] == "MIT"


def test_output_is_the_same_bytes_on_every_run(sbom: Sbom, tmp_path: Path) -> None:
    store_image(sbom.root, "local/one:1", [layer_tar({"var/lib/dpkg/status": stanza("a", "1")})])
    for fmt in ("spdx-json", "cyclonedx-json"):
        runs = []
        for n in range(2):
            out = tmp_path / f"{fmt}.{n}"
            assert sbom("sbom", "--format", fmt, "-o", str(out), "local/one:1") == 0, sbom.err
            runs.append(out.read_bytes())
        assert runs[0] == runs[1]


def test_an_unknown_image_is_one_line_and_exit_125_with_nothing_written(sbom: Sbom, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert sbom("sbom", "-o", str(out), "local/nothing:here") == 125
    assert sbom.err == "berth: local/nothing:here: image not known\n"
    assert not out.exists()


# -- Debian, against dpkg-query ----------------------------------------------------------------


def test_debian_packages_equal_dpkg_query(sbom: Sbom, debian_tar: Path, tmp_path: Path) -> None:
    assert sbom("import", str(debian_tar), "local/bookworm:minbase") == 0, sbom.err
    admin = tmp_path / "dpkg"
    with tarfile.open(debian_tar) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("./")
            if name == "var/lib/dpkg/status":
                admin.mkdir()
                (admin / "status").write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    (admin / "updates").mkdir()
    query = ["dpkg-query", f"--admindir={admin}", "-W", "-f", "${Package} ${Version}\n"]
    oracle = set(subprocess.run(query, capture_output=True, text=True, check=True).stdout.splitlines())
    doc = sbom.make("local/bookworm:minbase")
    assert {f"{p['name']} {p['versionInfo']}" for p in doc["packages"][1:]} == oracle
    libc = spdx_packages(doc)[("deb", "libc6")]
    assert libc["sourceInfo"].startswith("built from source package glibc ")
    assert "?arch=amd64&distro=debian-12" in libc["externalRefs"][0]["referenceLocator"]
    # glibc's copyright file is free text; adduser's is DEP-5.
    assert spdx_packages(doc)[("deb", "adduser")]["licenseDeclared"] == "GPL-2.0-or-later"
    sbom.make("local/bookworm:minbase", "cyclonedx-json")


# -- Python, against pip list ----------------------------------------------------------------


def test_python_distributions_equal_pip_list(sbom: Sbom, tmp_path: Path) -> None:
    pip = shutil.which("pip3") or shutil.which("pip")
    if pip is None:
        pytest.skip("pip is not installed")
    venv_site = (
        Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )
    site = tmp_path / "tree" / "usr/local/lib/python3.11/site-packages"
    for info in venv_site.glob("*.dist-info"):
        shutil.copytree(info, site / info.name)
    listed = subprocess.run(
        [pip, "list", "--path", str(site), "--format", "json"], capture_output=True, check=True
    )
    oracle = {(pep503_name(d["name"]), d["version"]) for d in json.loads(listed.stdout)}
    assert len(oracle) > 10
    assert sbom("import", str(tmp_path / "tree"), "local/python:1") == 0, sbom.err
    doc = sbom.make("local/python:1", "cyclonedx-json")
    assert {(pep503_name(c["name"]), c["version"]) for c in doc["components"]} == oracle
    assert all(c["purl"].startswith(f"pkg:pypi/{pep503_name(c['name'])}@") for c in doc["components"])
    sbom.make("local/python:1")


# -- npm, against npm ls -------------------------------------------------------------------------


def _npm_tree(app: Path) -> None:
    def package(where: Path, name: str, version: str, deps: dict[str, str]) -> None:
        where.mkdir(parents=True)
        manifest = {"name": name, "version": version, "license": "MIT", "dependencies": deps}
        (where / "package.json").write_text(json.dumps(manifest))

    package(app, "app", "1.0.0", {"left-pad": "^1.3.0", "@scope/util": "2.0.0"})
    modules = app / "node_modules"
    package(modules / "left-pad", "left-pad", "1.3.0", {"ansi": "1.0.0"})
    package(modules / "left-pad/node_modules/ansi", "ansi", "1.0.0", {})
    package(modules / "@scope/util", "@scope/util", "2.0.0", {"ansi": "^2.0.0"})
    package(modules / "ansi", "ansi", "2.1.0", {})


def _npm_flatten(tree: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for name, dep in tree.get("dependencies", {}).items():
        found.add((name, dep["version"]))
        found |= _npm_flatten(dep)
    return found


def test_npm_packages_equal_npm_ls(sbom: Sbom, tmp_path: Path) -> None:
    app = tmp_path / "tree" / "srv" / "app"
    _npm_tree(app)
    run = subprocess.run(["npm", "ls", "--all", "--json"], cwd=app, capture_output=True, check=True)
    oracle = _npm_flatten(json.loads(run.stdout))
    assert len(oracle) == 4
    assert sbom("import", str(tmp_path / "tree"), "local/npm:1") == 0, sbom.err
    doc = sbom.make("local/npm:1")
    assert {(p["name"], p["versionInfo"]) for p in doc["packages"][1:]} == oracle
    assert {p["externalRefs"][0]["referenceLocator"] for p in doc["packages"][1:]} >= {
        "pkg:npm/%40scope/util@2.0.0"
    }
