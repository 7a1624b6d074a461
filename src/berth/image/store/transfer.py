"""Copy an image's blobs (its descriptor graph) from one content store to another, verified.

Used between Berth's store and OCI image layouts. Every blob goes through the destination's ingest,
so it is checked against its descriptor before it appears there.
"""

from __future__ import annotations

from berth.errors import AlreadyExists, NotFound
from berth.image.store.content import ContentStore, LeaseRef
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.manifest import ImageManifest, parse

_CHUNK = 1 << 20


def copy_blob(src: ContentStore, dst: ContentStore, desc: Descriptor, lease: LeaseRef = None) -> bool:
    """Copy one blob unless ``dst`` has it; return whether bytes were copied.

    ``DigestMismatch`` if the source's bytes are not what ``desc`` says (nothing appears in ``dst``).
    """
    if dst.protect(desc.digest, lease):
        return False
    with src.open(desc.digest) as fh:
        try:
            writer = dst.writer(f"copy-{desc.digest}", desc.digest, desc.size, lease)
        except AlreadyExists:
            return False
        with writer:
            writer.truncate(0)  # a resumed ingest of this blob may hold anything
            while chunk := fh.read(_CHUNK):
                writer.write(chunk)
            writer.commit(desc.size, desc.digest)
    return True


def copy_graph(src: ContentStore, dst: ContentStore, root: Descriptor, lease: LeaseRef = None) -> int:
    """Copy ``root`` and everything it references; return how many blobs were copied.

    Children go first and the root last, so an interrupted copy never leaves a manifest in ``dst``
    whose blobs are missing. Entries of an index that ``src`` lacks are skipped (a partial pull keeps
    only some platforms); any other missing blob raises ``NotFound``.
    """
    copied = 0
    for desc, required in _graph(src, root):
        if not src.exists(desc.digest):
            if required and not desc.urls:
                raise NotFound(f"blob {desc.digest} ({desc.media_type}) is missing from {src.root}")
            continue
        copied += copy_blob(src, dst, desc, lease)
    return copied


def _graph(src: ContentStore, root: Descriptor) -> list[tuple[Descriptor, bool]]:
    """Every descriptor reachable from ``root``, each once, children before their parents."""
    order: list[tuple[Descriptor, bool]] = []
    seen: set[object] = set()

    def visit(desc: Descriptor, required: bool, depth: int) -> None:
        if desc.digest in seen or depth > 8:  # indexes nest a level or two; deeper is junk
            return
        seen.add(desc.digest)
        if desc.media_type in mediatypes.MANIFEST_OR_INDEX_TYPES and src.exists(desc.digest):
            doc = parse(src.read(desc.digest), desc.media_type)
            for child in doc.children():
                visit(child, isinstance(doc, ImageManifest), depth + 1)
        order.append((desc, required))

    visit(root, True, 0)
    return order
