"""``berth sbom`` of RPM databases (made by Debian's rpm and rpmbuild, against ``rpm -qa``) and of
Java archives (handmade jars, a war holding jars, a Spring Boot style nested jar)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.inventory.images import jar, layer_tar, pom, store_image
from tests.integration.inventory.runner import Sbom

pytestmark = pytest.mark.timeout(300)

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: a test package
License: {license}
BuildArch: noarch
%description
A package with no files, for the rpm database.
%files
"""
RPMS = [
    ("hello", "1.2.3", "4.el9", "2", "MIT and (GPL-2.0-or-later or BSD)"),
    ("python3-world", "0.9", "1.el9", "", "Apache-2.0"),
]


def _rpm(*args: str) -> str:
    run = subprocess.run(["rpm", "--define", "_db_backend sqlite", *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sqlite rpm database holding the ``RPMS`` packages, built with rpmbuild and rpm --justdb."""
    if shutil.which("rpm") is None or shutil.which("rpmbuild") is None:
        pytest.skip("rpm and rpmbuild are not installed (scripts/setup.sh installs rpm)")
    top = tmp_path_factory.mktemp("rpm")
    built = []
    for name, version, release, epoch, license_text in RPMS:
        spec = top / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release, license=license_text,
                                    epoch=f"Epoch: {epoch}\n" if epoch else ""))  # fmt: skip
        subprocess.run(["nice", "rpmbuild", "--quiet", "-bb", "--define", f"_topdir {top}", str(spec)],
                       check=True, capture_output=True)  # fmt: skip
        built.append(str(top / "RPMS" / "noarch" / f"{name}-{version}-{release}.noarch.rpm"))
    db = top / "db"
    _rpm("--initdb", "--dbpath", str(db))
    _rpm("-i", "--justdb", "--nodeps", "--noscripts", "--dbpath", str(db), *built)
    return db


def test_rpm_packages_equal_rpm_query(sbom: Sbom, rpmdb: Path) -> None:
    query = "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n"
    oracle = set(_rpm("-qa", "--dbpath", str(rpmdb), "--qf", query).splitlines())
    assert oracle == {"hello 2:1.2.3-4.el9", "python3-world 0.9-1.el9"}
    files = {
        "etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n',
        "var/lib/rpm/rpmdb.sqlite": (rpmdb / "rpmdb.sqlite").read_bytes(),
    }
    store_image(sbom.root, "local/rpm:1", [layer_tar(files)])
    doc = sbom.make("local/rpm:1")
    assert {f"{p['name']} {p['versionInfo']}" for p in doc["packages"][1:]} == oracle
    hello = next(p for p in doc["packages"] if p["name"] == "hello")
    assert hello["externalRefs"][0]["referenceLocator"] == (
        "pkg:rpm/rocky/hello@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=2"
    )
    assert hello["sourceInfo"] == "built from source package hello 1.2.3-4.el9"
    sbom.make("local/rpm:1", "cyclonedx-json")


def test_a_broken_rpm_database_is_skipped_with_a_warning(sbom: Sbom) -> None:
    files = {"var/lib/rpm/rpmdb.sqlite": b"not sqlite" * 100, "var/lib/dpkg/status": b""}
    store_image(sbom.root, "local/badrpm:1", [layer_tar(files)])
    sbom.make("local/badrpm:1")
    assert sbom.err.startswith("berth: warning: skipped var/lib/rpm/rpmdb.sqlite: not an rpm sqlite database")


def test_java_archives_pom_properties_manifests_and_nesting(sbom: Sbom) -> None:
    commons = jar(pom("commons-io", "commons-io", "2.11.0"))
    manifest = (
        b"Manifest-Version: 1.0\r\nImplementation-Title: tool\r\nImplementation-Version: 3.1\r\n"
        b"Implementation-Vendor-Id: org.ex\r\n ample\r\n\r\nName: x\r\n"
    )  # a continued line
    manifest_only = jar({"META-INF/MANIFEST.MF": manifest})
    boot = jar({**pom("com.example", "app", "1.0.0"), "BOOT-INF/lib/commons-io-2.11.0.jar": commons,
                "BOOT-INF/lib/guava-32.1.2-jre.jar": jar({})})  # fmt: skip
    war = jar({"WEB-INF/lib/log4j-core.jar": jar(pom("org.apache.logging.log4j", "log4j-core", "2.14.1"))})
    files = {"opt/app.jar": boot, "opt/tool.jar": manifest_only, "srv/site.war": war,
             "opt/broken.jar": b"PK but not really"}  # fmt: skip
    store_image(sbom.root, "local/java:1", [layer_tar(files)])
    doc = sbom.make("local/java:1", "cyclonedx-json")
    assert sbom.err.startswith("berth: warning: skipped opt/broken.jar: not a zip archive")
    paths = {
        c["purl"]: {p["name"]: p["value"] for p in c["properties"]}["berth:path"] for c in doc["components"]
    }
    boot_lib = "/opt/app.jar!/BOOT-INF/lib"
    assert paths == {
        "pkg:maven/com.example/app@1.0.0": "/opt/app.jar!/META-INF/maven/com.example/app/pom.properties",
        "pkg:maven/commons-io/commons-io@2.11.0":
            f"{boot_lib}/commons-io-2.11.0.jar!/META-INF/maven/commons-io/commons-io/pom.properties",
        "pkg:maven/guava@32.1.2-jre": f"{boot_lib}/guava-32.1.2-jre.jar",  # its file name
        "pkg:maven/org.example/tool@3.1": "/opt/tool.jar!/META-INF/MANIFEST.MF",
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1": "/srv/site.war!/WEB-INF/lib/log4j-core.jar!/"
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
    }  # fmt: skip
    sbom.make("local/java:1")
