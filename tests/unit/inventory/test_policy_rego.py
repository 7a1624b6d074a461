"""The Rego seam: the rule convention (v1 sets, v0 partial rules, named messages, objects),
errors that name the file and place, and the file-facts watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.inventory.policy.files import note, secrets_in
from berth.inventory.policy.rego import RegoError, Violation, evaluate, load_modules, module


def test_messages_of_every_package_in_both_rego_versions() -> None:
    modules = [
        module("a.rego", b'package a.b\nimport rego.v1\ndeny contains "r1: too big" if input.x > 1\n'),
        module(
            "o.rego", b'package a.b\nimport rego.v1\ndeny contains {"rule": "r2", "msg": "obj"} if true\n'
        ),
        module("c.rego", b'package c\ndeny[msg] { msg := "no rule word here" }\n'),
        module("d.rego", b'package d\nimport rego.v1\ndeny contains "d: quiet" if input.x > 5\n'),
    ]
    assert evaluate(modules, {"x": 3}) == [
        Violation("a.b", "r1", "too big"),
        Violation("a.b", "r2", "obj"),
        Violation("c", "c", "no rule word here"),
    ]


def test_a_file_that_does_not_compile_is_named_with_its_place() -> None:
    bad = module("dir/bad.rego", b"package x\ndeny contains msg if { msg := }\n")
    with pytest.raises(RegoError, match=r"^dir/bad\.rego:2:28: Invalid assignment operator$"):
        evaluate([bad], {})


def test_an_unknown_function_names_the_package_files() -> None:
    bad = module("u.rego", b"package x\nimport rego.v1\ndeny contains msg if { msg := nope(1) }\n")
    with pytest.raises(RegoError, match=r"^u\.rego: Function not found: nope$"):
        evaluate([bad], {})


def test_rule_set_directories(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a directory"):
        load_modules([tmp_path / "missing"])
    with pytest.raises(InvalidArgument, match=r"no \.rego files"):
        load_modules([tmp_path])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/x.rego").write_text("deny := 1\n")
    with pytest.raises(RegoError, match=r"x\.rego: no package declaration"):
        load_modules([tmp_path])


def test_file_facts() -> None:
    assert note("bin/su", 0o4755, 10, lambda: b"") == ("setuid",)
    assert note("tmp/x", 0o2777, 0, lambda: b"") == ("setgid", "world-writable")
    assert note("k.pem", 0o600, 40, lambda: b"-----BEGIN OPENSSH PRIVATE KEY-----") == ("secret:private-key",)
    assert secrets_in(b"id = AKIAIOSFODNN7EXAMPLE\n") == ("aws-access-key-id",)
    assert secrets_in(b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == (
        "aws-secret-access-key",
    )
    assert secrets_in(b'{"type": "service_account", "project_id": "p"}') == ("gcp-service-account-key",)
    assert secrets_in(b"AKIA is a prefix; PRIVATE KEY alone is text") == ()
