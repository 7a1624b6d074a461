"""Admission: rule sets named in berth.toml judge ``run``, ``create`` and ``kube play`` before any
container state exists; a denial is one line naming the rule, exit 125, and an ``admission`` event."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth

RULES = """package site.admission
import rego.v1

deny contains "no-privileged: privileged containers are not allowed" if input.container.privileged

deny contains sprintf("allowed-registries: %s is not an allowed registry", [input.container.registry]) if {
    not input.container.registry in {"localhost"}
}

deny contains "signed-only: the image has no accepted signature" if {
    input.container.labels.signed == "required"
    not any_accepted
}

any_accepted if {
    some verdict in input.signatures
    verdict.accepted
}

deny contains "non-root: the image must set a user" if {
    input.container.labels.strict == "yes"
    object.get(input.image.config.config, "User", "") == ""
}
"""

POD = """apiVersion: v1
kind: Pod
metadata:
  name: judged
spec:
  containers:
  - name: app
    image: localhost/app:1
    command: ["sleep", "60"]
    securityContext:
      privileged: true
"""


@pytest.fixture
def judged(berth: Berth, tmp_path: Path) -> Berth:
    """``berth`` with the rules above configured, and ``localhost/app:1`` and ``docker.io/library/app:1``
    imported from the busybox root."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "admission.rego").write_text(RULES)
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(berth.rootfs, arcname=".")
    berth("import", str(tarball), "localhost/app:1")
    berth("tag", "localhost/app:1", "docker.io/library/app:1")
    with berth.config_file.open("a") as config:
        config.write(f'\n[admission]\npolicies = ["{rules}"]\n')
    return berth


def _no_container_state(berth: Berth) -> None:
    assert berth("ps", "-a", "-q").stdout.strip() == ""
    assert berth("pod", "ps", "-q").stdout.strip() == ""
    for place in (berth.root / "containers", berth.runroot / "containers", berth.root / "snapshots/active"):
        assert not place.exists() or not any(place.iterdir()), place


def _admission_events(berth: Berth) -> list[dict[str, object]]:
    lines = berth("events", "--stream=false", "--filter", "type=admission", "--format", "json").stdout
    return [json.loads(line) for line in lines.splitlines()]


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (("run", "--rm", "--privileged", "localhost/app:1", "true"), "site.admission.no-privileged"),
        (("create", "docker.io/library/app:1", "true"), "site.admission.allowed-registries"),
        (("run", "--label", "signed=required", "localhost/app:1", "true"), "site.admission.signed-only"),
        (("create", "--label", "strict=yes", "localhost/app:1"), "site.admission.non-root"),
    ],
)
def test_a_denied_container_leaves_nothing(judged: Berth, args: tuple[str, ...], rule: str) -> None:
    done = judged(*args, check=False)
    assert done.returncode == 125 and done.stdout == ""
    assert done.stderr.startswith("berth: container ") and done.stderr.count("\n") == 1, done.stderr
    assert f"denied by {rule}: " in done.stderr
    _no_container_state(judged)
    [event] = _admission_events(judged)
    assert event["Status"] == "deny" and event["Attributes"]["rules"] == rule  # type: ignore[index]


def test_an_admitted_container_is_made(judged: Berth) -> None:
    cid = judged("create", "--name", "fine", "localhost/app:1", "true").stdout.strip()
    try:
        [event] = _admission_events(judged)
        assert (event["Status"], event["Name"], event["Image"]) == ("allow", "fine", "localhost/app:1")
    finally:
        judged("rm", cid)


def test_kube_play_is_judged_and_undone(judged: Berth, tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(POD)
    done = judged("kube", "play", str(path), check=False)
    assert done.returncode == 125 and "denied by site.admission.no-privileged" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    _no_container_state(judged)


def test_a_rule_set_that_does_not_compile_refuses_every_container(judged: Berth, tmp_path: Path) -> None:
    (tmp_path / "rules" / "broken.rego").write_text("package broken\ndeny contains msg if { msg := }\n")
    done = judged("run", "--rm", "localhost/app:1", "true", check=False)
    assert done.returncode == 125
    assert done.stderr == f"berth: {tmp_path}/rules/broken.rego:2:28: Invalid assignment operator\n"
    _no_container_state(judged)
