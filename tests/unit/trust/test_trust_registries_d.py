"""registries.d: merging files, which section answers for an image, lookaside locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust.errors import PolicyError
from berth.trust.registries_d import load_registries_d, signature_url

DIGEST = Digest.parse("sha256:" + "ab" * 32)


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_most_specific_section_that_sets_a_field_wins(tmp_path: Path) -> None:
    conf = load_registries_d(_write(tmp_path / "d", {
        "default.yaml": "default-docker:\n  lookaside: file:///srv/default\n"
                        "  use-sigstore-attachments: true\n",
        "team.yaml": "docker:\n  reg.example/team:\n    lookaside: https://sigs.example/team\n"
                     "    lookaside-staging: file:///srv/staging\n"
                     "  reg.example/team/app:\n    use-sigstore-attachments: false\n",
        "ignored.yml": "default-docker:\n  lookaside: file:///not/read\n",
    }))  # fmt: skip
    app = Reference.parse("reg.example/team/app:1")
    other = Reference.parse("reg.example/other:1")
    assert not conf.use_sigstore_attachments(app)
    assert conf.use_sigstore_attachments(other)
    assert conf.lookaside_base(app, write=False) == "https://sigs.example/team/team/app"
    assert conf.lookaside_base(app, write=True) == "file:///srv/staging/team/app"
    assert conf.lookaside_base(other, write=True) == "file:///srv/default/other"
    assert (
        signature_url(conf.lookaside_base(other, write=False), DIGEST, 1)
        == f"file:///srv/default/other@sha256={'ab' * 32}/signature-2"
    )


def test_old_sigstore_names_are_read(tmp_path: Path) -> None:
    conf = load_registries_d(_write(tmp_path / "d", {"a.yaml": "default-docker:\n  sigstore: file:///old\n"}))
    assert conf.lookaside_base(Reference.parse("r.example/x"), write=True) == "file:///old/x"


def test_unconfigured_lookaside_is_the_builtin_default(tmp_path: Path) -> None:
    conf = load_registries_d(_write(tmp_path / "d", {}))
    assert not conf.use_sigstore_attachments(Reference.parse("r.example/x"))
    assert conf.lookaside_base(Reference.parse("r.example/x"), write=False).endswith("/sigstore/x")


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"a.yaml": "default-docker: {}\n", "b.yaml": "default-docker: {lookaside: file:///x}\n"},
         "default-docker is defined in both"),
        ({"a.yaml": "docker:\n  r.example: {}\n", "b.yaml": "docker:\n  r.example: {}\n"},
         "docker namespace 'r.example' is defined in both"),
        ({"a.yaml": "docker: [1]\n"}, "docker must be a mapping"),
        ({"a.yaml": "default-docker:\n  use-sigstore-attachments: yes please\n"},
         "use-sigstore-attachments must be true or false"),
        ({"a.yaml": "default-docker:\n  lookaside: [1]\n"}, "lookaside must be a string"),
        ({"a.yaml": "default-docker: {\n"}, "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_files_are_errors_naming_the_problem(tmp_path: Path, files: dict[str, str], problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        load_registries_d(_write(tmp_path / "d", files))


def test_explicit_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_registries_d(tmp_path / "absent")
