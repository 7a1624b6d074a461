"""The build context: the files COPY and ADD may read, from a directory, a tarball or stdin.

A directory is used in place; a tarball (plain, gzip or zstd; also given as ``-`` on stdin) is
unpacked into a private temporary directory with the image store's hardened layer code and removed
when the build ends. ``.containerignore``/``.dockerignore`` hide paths from every lookup.

    with open_context("./app") as ctx:
        ctx.resolve("src/*.py")   # ["src/a.py", "src/b.py"], context-relative, ignore rules applied
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.build.ignore import IgnoreRules, translate
from berth.errors import InvalidArgument, NotFound

_GLOB_CHARS = frozenset("*?[")


class BuildContext:
    """A context directory and its ignore rules; paths in and out are context-relative."""

    def __init__(self, root: Path, ignore: IgnoreRules) -> None:
        self.root = root
        self.ignore = ignore

    def resolve(self, source: str) -> list[str]:
        """The context paths ``source`` (a path or a glob, as COPY writes it) names.

        ``InvalidArgument`` when it reaches outside the context, ``NotFound`` when nothing matches
        (an excluded path counts as missing, as Docker's "excluded by .dockerignore" does).
        """
        rel = self.confine(source)
        if rel == ".":
            return ["."]
        found = [p for p in self._glob(rel.split("/")) if not self.ignore.excludes(p)]
        if not found:
            raise NotFound(f"{source}: no such file or directory in the build context (or excluded)")
        return sorted(found)

    def follow(self, rel: str) -> str:
        """The context path ``rel`` with its symbolic links followed, inside the context: a COPY
        source named by a link copies what the link points to (BuildKit and buildah follow a
        source's links; links below a copied directory are copied as links)."""
        from berth.fsutil import resolve_in_root

        target = resolve_in_root(str(self.root), rel)
        if not os.path.lexists(target):
            raise NotFound(f"{rel}: a link to nothing in the build context")
        return os.path.relpath(target, self.root)

    def confine(self, source: str) -> str:
        """``source`` as a path relative to the context; ``InvalidArgument`` if it leaves it."""
        rel = posixpath.normpath(source.lstrip("/") or ".")
        if rel == ".." or rel.startswith("../"):
            raise InvalidArgument(f"{source}: outside the build context")
        return rel

    def _glob(self, parts: list[str], prefix: str = "") -> Iterator[str]:
        head, rest = parts[0], parts[1:]
        if _GLOB_CHARS.isdisjoint(head):
            names = [head] if os.path.lexists(self.root / prefix / head) else []
        else:
            pattern = re.compile(translate(head))
            try:
                names = sorted(n for n in os.listdir(self.root / prefix) if pattern.match(n))
            except (FileNotFoundError, NotADirectoryError):
                names = []
        for name in names:
            path = f"{prefix}{name}"
            if not rest:
                yield path
            elif (self.root / path).is_dir() and not (self.root / path).is_symlink():
                yield from self._glob(rest, f"{path}/")

    def walk(self, rel: str) -> Iterator[str]:
        """``rel`` and, for a directory, every path below it that the ignore rules keep (sorted)."""
        top = self.root / rel
        if rel == "." or not self.ignore.excludes(rel):
            yield rel
        if not top.is_dir() or top.is_symlink():
            return
        for name in sorted(os.listdir(top)):
            child = name if rel == "." else f"{rel}/{name}"
            if self.ignore.excludes(child) and not self.ignore.has_exceptions:
                continue
            yield from self.walk(child)


def _is_tar(head: bytes) -> bool:
    """Whether ``head`` (the first bytes) starts a tar stream, maybe gzip or zstd compressed."""
    return head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd" or head[257:262] == b"ustar"


@contextlib.contextmanager
def open_context(
    spec: str, stdin: BinaryIO | None = None, scratch: Path | None = None
) -> Iterator[tuple[BuildContext, bytes | None]]:
    """The context ``spec`` names (a directory, a tarball, or ``-`` for stdin) and, when stdin held
    a Containerfile rather than a tarball, that file's bytes (the context is then empty). A
    tarball is unpacked in a directory under ``scratch`` (default: the system's temporary one)."""
    if spec != "-" and Path(spec).is_dir():
        root = Path(spec)
        yield BuildContext(root, IgnoreRules.read(root)), None
        return
    with tempfile.TemporaryDirectory(prefix="berth-build-context-", dir=scratch) as unpacked:
        root = Path(unpacked)
        containerfile = _fill(root, spec, stdin)
        yield BuildContext(root, IgnoreRules.read(root)), containerfile


def context_from_archive(archive: Path, root: Path) -> BuildContext:
    """The context in the tarball ``archive`` (plain, gzip or zstd), unpacked into the empty
    directory ``root``, which the caller removes."""
    _fill(root, str(archive), None)
    return BuildContext(root, IgnoreRules.read(root))


def _fill(root: Path, spec: str, stdin: BinaryIO | None) -> bytes | None:
    """Unpack the tarball ``spec`` (``-``: stdin) into ``root``; stdin that is no tarball is returned."""
    import io

    from berth.image.layers import InvalidLayer, apply_layer

    if spec == "-":
        data = (stdin if stdin is not None else os.fdopen(0, "rb", closefd=False)).read()
        if not _is_tar(data[:512]):
            return data
        source: BinaryIO = io.BytesIO(data)
    else:
        try:
            source = open(spec, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise NotFound(f"build context {spec}: no such directory or file") from None
    with source:
        if not _is_tar(source.read(512)):
            raise InvalidArgument(f"build context {spec}: neither a directory nor a tar archive")
        source.seek(0)
        try:
            apply_layer(source, root, same_owner=os.geteuid() == 0)
        except InvalidLayer as err:
            raise InvalidArgument(f"build context {spec}: {err}") from None
    return None
