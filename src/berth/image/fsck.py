"""Consistency check of a content store and its image records (what ``berth image fsck`` runs).

Every blob is rehashed and compared with its name; files in ``blobs/`` that are not blobs are
reported; every image's graph (index -> manifests -> config and layers) is walked and each blob it
needs but the store lacks is reported. With ``repair=True`` corrupt blobs are removed, so that a
later pull fetches them again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from berth.errors import BerthError
from berth.image.images import ImageStore
from berth.image.store.content import ContentStore
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageManifest, parse

#: Problem kinds.
CORRUPT = "corrupt"
STRAY = "stray"
MISSING = "missing"
INVALID = "invalid"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    """One finding: its kind, what it concerns (a digest, a path or an image) and a one-line message."""

    kind: str
    subject: str
    message: str

    def __str__(self) -> str:
        return self.message


def fsck(content: ContentStore, images: ImageStore | None = None, repair: bool = False) -> list[Problem]:
    """Check the store (and the images, if given); return every problem found, blobs first."""
    problems = list(_check_blobs(content, repair))
    if images is not None:
        for image in images.list():
            problems.extend(_check_graph(content, image.name, image.target))
    return problems


def _check_blobs(content: ContentStore, repair: bool) -> Iterator[Problem]:
    if not content.blobs.is_dir():
        return
    for alg_dir in sorted(content.blobs.iterdir()):
        entries = sorted(alg_dir.iterdir()) if alg_dir.is_dir() else [alg_dir]
        for path in entries:
            try:
                digest = Digest.parse(f"{alg_dir.name}:{path.name}")
            except BerthError:
                yield Problem(STRAY, str(path), f"{path}: not a blob (its name is not a digest)")
                continue
            if not digest.verifiable or not path.is_file():
                yield Problem(STRAY, str(path), f"{path}: not a blob Berth can verify")
                continue
            actual = _hash_file(path, digest.algorithm)
            if actual != digest:
                fixed = ""
                if repair:
                    os.unlink(path)
                    fixed = "; removed"
                yield Problem(
                    CORRUPT, str(digest), f"blob {digest} is corrupt: its content hashes to {actual}{fixed}"
                )


def _hash_file(path: os.PathLike[str], algorithm: str) -> Digest:
    hasher = Digest(algorithm, "0").hasher()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
    return hasher.digest()


def _check_graph(content: ContentStore, name: str, target: Descriptor) -> Iterator[Problem]:
    # Entries of an index may be absent on purpose: a pull fetches only the platforms it needs.
    todo: list[tuple[Descriptor, bool]] = [(target, True)]
    seen: set[Digest] = set()
    while todo:
        desc, required = todo.pop()
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if not content.exists(desc.digest):
            if required and not desc.urls:  # a foreign layer is fetched from its URLs, not kept
                yield Problem(
                    MISSING, str(desc.digest), f"image {name}: {desc.media_type} {desc.digest} is missing"
                )
            continue
        if desc.media_type in mediatypes.MANIFEST_OR_INDEX_TYPES:
            try:
                doc = parse(content.read(desc.digest), desc.media_type)
            except BerthError as err:
                yield Problem(INVALID, str(desc.digest), f"image {name}: manifest {desc.digest}: {err}")
                continue
            todo.extend((child, isinstance(doc, ImageManifest)) for child in doc.children())
