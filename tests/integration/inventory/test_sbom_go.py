"""``berth sbom`` of Go executables: build information laid out by hand (modules, a replacement),
Debian's runc (its Go version against the package's Built-Using), and any Go program against
``go version -m`` when a Go toolchain is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.inventory.images import go_executable, layer_tar, store_image
from tests.integration.inventory.runner import Sbom

pytestmark = pytest.mark.timeout(300)

MODINFO = (
    "path\texample.com/app/cmd/app\n"
    "mod\texample.com/app\tv1.4.0\th1:abc=\n"
    "dep\tgolang.org/x/text\tv0.3.7\th1:def=\n"
    "dep\tgithub.com/old/lib\tv1.0.0\t\n"
    "=>\tgithub.com/fork/lib\tv1.0.1-0.20230101000000-abcdefabcdef\th1:ghi=\n"
    "dep\texample.com/local\tv0.1.0\t\n"
    "=>\t../local\t\t\n"
    "build\t-compiler=gc\n"
)


def components(sbom: Sbom, image: str) -> set[tuple[str, str, str]]:
    doc = sbom.make(image, "cyclonedx-json")
    return {(c["name"], c["version"], c["purl"]) for c in doc["components"]}


def test_modules_of_an_executable_and_only_of_executables(sbom: Sbom) -> None:
    binary = go_executable("go1.20.1", MODINFO)
    files = {"usr/local/bin/app": binary, "srv/app.copy": binary, "usr/local/bin/empty": b"\x7fELF" * 8}
    store_image(
        sbom.root, "local/go:1", [layer_tar(files, executables=("usr/local/bin/app", "usr/local/bin/empty"))]
    )
    assert components(sbom, "local/go:1") == {
        ("stdlib", "go1.20.1", "pkg:golang/stdlib@go1.20.1"),
        ("example.com/app", "v1.4.0", "pkg:golang/example.com/app@v1.4.0"),
        ("golang.org/x/text", "v0.3.7", "pkg:golang/golang.org/x/text@v0.3.7"),
        # a replacement by a module gives its version; by a local directory, the original stays
        ("github.com/old/lib", "v1.0.1-0.20230101000000-abcdefabcdef",
         "pkg:golang/github.com/old/lib@v1.0.1-0.20230101000000-abcdefabcdef"),
        ("example.com/local", "v0.1.0", "pkg:golang/example.com/local@v0.1.0"),
    }  # fmt: skip
    sbom.make("local/go:1")


def test_debian_runc_is_built_by_the_go_its_package_names(sbom: Sbom) -> None:
    runc = Path(shutil.which("runc") or "/usr/bin/runc")
    if not runc.exists():
        pytest.skip("runc is not installed")
    built_using = subprocess.run(["dpkg-query", "-W", "-f", "${Built-Using}", "runc"],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
    go = re.search(r"golang-[0-9.]+ \(= ([0-9.]+)-", built_using)
    assert go is not None, built_using
    files = {"usr/sbin/runc": runc.read_bytes()}
    store_image(sbom.root, "local/runc:1", [layer_tar(files, executables=("usr/sbin/runc",))])
    # Debian builds runc outside module mode: its build information names no modules.
    assert components(sbom, "local/runc:1") == {("stdlib", f"go{go[1]}", f"pkg:golang/stdlib@go{go[1]}")}


def test_a_go_program_against_go_version_m(sbom: Sbom, tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain on this machine")
    app = tmp_path / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.18\n")
    (app / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    env = {"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run(["nice", go, "build", "-o", str(tmp_path / "app.bin"), "."], cwd=app, env=env, check=True)
    listing = subprocess.run([go, "version", "-m", str(tmp_path / "app.bin")], capture_output=True, text=True,
                             env=env, check=True).stdout  # fmt: skip
    oracle = {("stdlib", listing.split(":", 1)[1].split()[0])}
    for line in listing.splitlines():
        fields = line.split()
        if fields and fields[0] in ("mod", "dep") and len(fields) >= 3:
            oracle.add((fields[1], fields[2]))
    files = {"app": (tmp_path / "app.bin").read_bytes()}
    store_image(sbom.root, "local/goapp:1", [layer_tar(files, executables=("app",))])
    assert {(name, version) for name, version, _ in components(sbom, "local/goapp:1")} == oracle
