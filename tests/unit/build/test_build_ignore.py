""".containerignore/.dockerignore rules (moby/patternmatcher semantics) and the build context."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from berth.build.context import open_context
from berth.build.ignore import IgnoreRules
from berth.errors import InvalidArgument, NotFound


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "dir/a.log", False),
        ("*/*.log", "dir/a.log", True),
        ("**/*.log", "a/b/c.log", True),
        ("**/*.log", "c.log", True),
        ("dir", "dir/sub/file", True),
        ("/dir/", "dir/sub/file", True),
        ("dir/**", "dir/x", True),
        ("d?r", "dir", True),
        ("d?r", "d/r", False),
        ("[a-c].txt", "b.txt", True),
        ("[!a-c].txt", "b.txt", False),
        ("*.log\n!keep.log", "keep.log", False),
        ("*.log\n!keep.log\nkeep*", "keep.log", True),
        ("dir\n!dir/keep", "dir/keep", False),
        ("dir\n!dir/keep", "dir/other", True),
        ("# comment\n\n  spaced  ", "spaced", True),
        ("a/../b", "b", True),
        ("file.(x)", "file.(x)", True),
        ("file.(x)", "filex", False),
    ],
)
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert IgnoreRules.parse(patterns).excludes(path) is excluded


def test_bare_exclamation_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match=r"^\.dockerignore:2: illegal exclusion pattern '!'$"):
        IgnoreRules.parse("a\n!\n")


def make_tree(root: Path) -> None:
    for rel in ("a.txt", "b.txt", "src/x.py", "src/y.py", "src/skip.log", "build/out"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)


def test_containerignore_wins_over_dockerignore(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / ".dockerignore").write_text("a.txt\n")
    (tmp_path / ".containerignore").write_text("b.txt\n")
    with open_context(str(tmp_path)) as (ctx, stdin_file):
        assert stdin_file is None
        assert ctx.resolve("*.txt") == ["a.txt"]


def test_resolve_globs_walk_and_confinement(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / ".dockerignore").write_text("**/*.log\nbuild\n")
    with open_context(str(tmp_path)) as (ctx, _):
        assert ctx.resolve("/src/*.py") == ["src/x.py", "src/y.py"]
        assert list(ctx.walk("src")) == ["src", "src/x.py", "src/y.py"]
        assert "build/out" not in list(ctx.walk("."))
        with pytest.raises(NotFound, match=r"src/skip\.log: no such file"):
            ctx.resolve("src/skip.log")
        with pytest.raises(NotFound):
            ctx.resolve("nope*")
        with pytest.raises(InvalidArgument, match=r"^\.\./etc/passwd: outside the build context$"):
            ctx.resolve("../etc/passwd")


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_context_from_tarball_and_stdin(tmp_path: Path) -> None:
    archive = tmp_path / "ctx.tar.gz"
    archive.write_bytes(tarball({"Containerfile": b"FROM scratch\n", "f": b"x"}))
    with open_context(str(archive)) as (ctx, _):
        assert ctx.resolve("f") == ["f"]
        unpacked = ctx.root
    assert not unpacked.exists()
    with open_context("-", io.BytesIO(archive.read_bytes())) as (ctx, stdin_file):
        assert stdin_file is None and (ctx.root / "Containerfile").read_bytes() == b"FROM scratch\n"
    with open_context("-", io.BytesIO(b"FROM scratch\n")) as (ctx, stdin_file):
        assert stdin_file == b"FROM scratch\n" and list(ctx.walk(".")) == ["."]


def test_bad_context(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with (
        pytest.raises(InvalidArgument, match="neither a directory nor a tar archive"),
        open_context(str(tmp_path / "notes.txt")),
    ):
        pass
    with pytest.raises(NotFound, match="no such directory or file"), open_context(str(tmp_path / "missing")):
        pass
