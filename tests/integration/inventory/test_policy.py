"""``berth policy check`` with the built-in CIS rules: images built from the busybox base, each
breaking one rule, are flagged by exactly that rule; a clean image passes; rules of one's own, the
input document, and a Rego file that does not compile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.image.images import ImageStore
from tests.busybox import make_rootfs
from tests.integration.inventory.images import store_manifest
from tests.integration.inventory.runner import Sbom

pytestmark = pytest.mark.timeout(300)

CLEAN = "localhost/clean:1"
PRIVATE_KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
)
CONTEXT_FILES = {
    "tool": b"#!/bin/sh\necho tool\n",
    "id_ed25519": PRIVATE_KEY,
    "credentials": b"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    "sa.json": b'{"type": "service_account", "project_id": "p", "private_key_id": "0"}',
}
#: Containerfile lines on top of the clean image, and the one rule each breaks.
BAD = {
    "root": ("USER 0", "CIS-4.1"),
    "nohealth": ("HEALTHCHECK NONE", "CIS-4.6"),
    "setuid": ("COPY --chmod=4755 tool /usr/local/bin/tool", "CIS-4.8"),
    "setgid": ("COPY --chmod=2755 tool /usr/local/bin/tool", "CIS-4.8"),
    "envsecret": ("ENV DB_PASSWORD=hunter2", "CIS-4.10"),
    "envkey": ("ENV UPLOAD_ID=AKIAIOSFODNN7EXAMPLE", "CIS-4.10"),
    "keyfile": ("COPY id_ed25519 /home/berth/.ssh/id_ed25519", "CIS-4.10"),
    "awsfile": ("COPY credentials /home/berth/.aws/credentials", "CIS-4.10"),
    "gcpfile": ("COPY sa.json /srv/sa.json", "CIS-4.10"),
    "writable": ("COPY --chmod=0666 tool /srv/notes", "world-writable"),
}


def with_history(berth: Sbom, source: str, name: str, created_by: str) -> None:
    """Store ``name``: ``source`` with one more (empty-layer) history entry, as another builder
    would record it (``berth build`` fetches no URLs)."""
    images = ImageStore(berth.root / "images")
    try:
        resolved = images.resolve(source)
        config = resolved.config.to_json()
        config["history"].append({"created_by": created_by, "empty_layer": True})
        store_manifest(images, name, config, [d.to_json() for d in resolved.manifest.layers])
    finally:
        images.close()


def build(berth: Sbom, name: str, lines: str) -> None:
    context = berth.tmp / f"ctx-{name.replace('/', '_').replace(':', '_')}"
    context.mkdir()
    for file, data in CONTEXT_FILES.items():
        (context / file).write_bytes(data)
    (context / "Containerfile").write_text(lines)
    # Docker format: an OCI image keeps no HEALTHCHECK (buildah drops it, and so does berth build).
    assert berth("build", "-q", "--format", "docker", "-t", name, str(context)) == 0, berth.err


def clean_image(berth: Sbom) -> None:
    make_rootfs(berth.tmp / "rootfs")
    assert berth("import", str(berth.tmp / "rootfs"), "localhost/base:1") == 0, berth.err
    build(berth, CLEAN, "FROM localhost/base:1\nUSER berth\nHEALTHCHECK CMD true\n")


def violations(berth: Sbom, image: str, *flags: str) -> tuple[int, list[dict[str, str]]]:
    code = berth("policy", "check", "--format", "json", *flags, image)
    out = berth.out
    return code, json.loads(out)["violations"] if out.strip() else []


def test_each_bad_image_breaks_exactly_its_rule(sbom: Sbom) -> None:
    clean_image(sbom)
    assert violations(sbom, CLEAN) == (0, [])
    for name, (line, _) in BAD.items():
        build(sbom, f"localhost/{name}:1", f"FROM {CLEAN}\n{line}\n")
    with_history(
        sbom, CLEAN, "localhost/addurl:1", "ADD https://example.com/tool /usr/local/bin/tool # buildkit"
    )
    for name, rule in [*((n, r) for n, (_, r) in BAD.items()), ("addurl", "CIS-4.9")]:
        code, found = violations(sbom, f"localhost/{name}:1")
        assert code == 1 and {v["rule"] for v in found} == {rule}, (name, found)
    assert sbom("tag", CLEAN, "localhost/clean:latest") == 0
    code, found = violations(sbom, "localhost/clean:latest")
    assert code == 1 and [v["rule"] for v in found] == ["latest-tag"]


def test_a_later_layer_clears_what_it_rewrites(sbom: Sbom) -> None:
    clean_image(sbom)
    build(
        sbom,
        "localhost/fixed:1",
        f"FROM {CLEAN}\nCOPY --chmod=4777 tool /srv/tool\nCOPY --chmod=0755 tool /srv/tool\n",
    )
    assert violations(sbom, "localhost/fixed:1") == (0, [])


def test_rules_of_ones_own_see_the_input_document(sbom: Sbom, tmp_path: Path) -> None:
    clean_image(sbom)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site.rego").write_text(
        "package site\nimport rego.v1\n"
        'deny contains sprintf("pkg: %s", [p.name]) if { some p in input.sbom.packages; p.name == "x" }\n'
        'deny contains sprintf("who: %s", [input.image.config.config.User]) if true\n'
        'deny contains "scanned: findings given" if input.findings\n'
    )
    code = sbom("policy", "check", "--policy", str(rules), "--exit-code", "3", CLEAN)
    assert code == 3 and sbom.out.splitlines()[1].split() == ["site", "who", "berth"]
    code, found = violations(sbom, CLEAN, "--policy", str(rules))
    assert code == 1 and found == [{"package": "site", "rule": "who", "message": "berth"}]
    code, found = violations(sbom, CLEAN, "--policy", str(rules), "--builtin", "cis")
    assert [v["rule"] for v in found] == ["who"]


def test_a_rego_file_that_does_not_compile(sbom: Sbom, tmp_path: Path) -> None:
    clean_image(sbom)
    (tmp_path / "bad.rego").write_text("package bad\ndeny contains msg if { msg := }\n")
    assert sbom("policy", "check", "--policy", str(tmp_path), CLEAN) == 125
    assert sbom.err == f"berth: {tmp_path}/bad.rego:2:28: Invalid assignment operator\n"
    assert sbom.out == ""
