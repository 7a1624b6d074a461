"""OCI image layouts (image-spec image-layout.md): ``oci-layout``, ``index.json``, ``blobs/``.

Tags are the ``org.opencontainers.image.ref.name`` annotation of ``index.json`` entries
(annotations.md). Blobs are written through a verifying ingest in ``.berth-ingest/`` (removed once
empty) and renamed into ``blobs/`` only when their digest and size match; ``index.json`` is replaced
atomically under an flock on the layout directory, so concurrent writers do not lose each other's tags.

    layout = ImageLayout.create("dir")
    layout.copy_from(store, manifest_descriptor, tag="v1")   # from Berth's content store
    layout.resolve("v1")                                     # manifest and config for the host
    layout.copy_to(store, "v1")                              # into Berth's content store
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from berth.errors import InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.image.images import ResolvedImage, resolve
from berth.image.store.content import ContentStore, LeaseRef
from berth.image.store.transfer import copy_graph
from berth.spec import _json, mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.manifest import ImageIndex
from berth.spec.platform import Platform

#: image-layout.md#oci-layout-file
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = "1.0.0"
INDEX_FILE = "index.json"
#: annotations.md#pre-defined-annotation-keys
REF_NAME = "org.opencontainers.image.ref.name"
INGEST_DIR = ".berth-ingest"

# annotations.md: ref ::= component ("/" component)*; component ::= alphanum (separator alphanum)*;
# alphanum ::= [A-Za-z0-9]+; separator ::= [-._:@+] | "--"
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")


def check_ref_name(name: str) -> str:
    """``name`` if it is a valid ``org.opencontainers.image.ref.name``."""
    if not isinstance(name, str) or not _REF.match(name):
        raise InvalidArgument(f"invalid image layout tag {name!r}")
    return name


class ImageLayout:
    """An OCI image layout directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the layout at ``path``; ``NotFound`` or ``InvalidArgument`` if it is not a valid one."""
        self.path = Path(path)
        self._check_layout_file()
        self.blobs = ContentStore(self.path, ingest_root=self.path / INGEST_DIR, collectable=False)
        self.index()  # fail now on a missing or malformed index.json

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> ImageLayout:
        """Create an empty layout at ``path`` (or open the layout already there)."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        with _dir_lock(root):
            if not (root / LAYOUT_FILE).exists():
                (root / "blobs").mkdir(exist_ok=True)
                if not (root / INDEX_FILE).exists():
                    atomic_write(root / INDEX_FILE, ImageIndex(()).to_bytes())
                # oci-layout last: a directory with it is a complete layout.
                atomic_write(root / LAYOUT_FILE, _json.dump({"imageLayoutVersion": LAYOUT_VERSION}))
        return cls(root)

    def _check_layout_file(self) -> None:
        where = self.path / LAYOUT_FILE
        try:
            data = where.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self.path} is not an OCI image layout: {LAYOUT_FILE} is missing") from None
        obj = _json.load_object(data, str(where))
        version = _json.get_str(obj, "imageLayoutVersion", str(where), required=True)
        if version != LAYOUT_VERSION:
            raise InvalidArgument(
                f"{where}: unsupported imageLayoutVersion {version!r}, want {LAYOUT_VERSION!r}"
            )

    # -- reading -------------------------------------------------------------------------------

    def index(self) -> ImageIndex:
        """The parsed ``index.json``; errors name the file and the field."""
        where = self.path / INDEX_FILE
        try:
            data = where.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{self.path} is not an OCI image layout: {INDEX_FILE} is missing") from None
        try:
            return ImageIndex.parse(data, mediatypes.OCI_INDEX)
        except InvalidArgument as err:
            raise InvalidArgument(f"{where}: {err}") from None

    def tags(self) -> builtins.list[str]:
        """The tags (``ref.name`` annotations) in ``index.json``, in file order."""
        return [t for d in self.index().manifests if (t := d.annotations.get(REF_NAME))]

    def find(self, name: str) -> Descriptor:
        """The ``index.json`` entry tagged ``name``, or whose digest is ``name``.

        ``NotFound`` names the tags the layout does have.
        """
        entries = self.index().manifests
        with contextlib.suppress(InvalidArgument):
            wanted = Digest.parse(name)
            for desc in entries:
                if desc.digest == wanted:
                    return desc
        for desc in entries:
            if desc.annotations.get(REF_NAME) == name:
                return desc
        tags = ", ".join(t for d in entries if (t := d.annotations.get(REF_NAME))) or "none"
        raise NotFound(f"{self.path}: no image {name!r} in {INDEX_FILE} (tags: {tags})")

    def resolve(self, name: str, platform: Platform | None = None) -> ResolvedImage:
        """The manifest and config of image ``name`` for ``platform`` (the host by default)."""
        return resolve(self.blobs, f"{self.path}:{name}", self.find(name), platform)

    # -- writing -------------------------------------------------------------------------------

    def add(self, target: Descriptor, tag: str | None = None) -> Descriptor:
        """List ``target`` in ``index.json``, tagged ``tag``; the tag moves off any other entry.

        The target's blob must already be in the layout (``copy_from`` puts it there). Returns the
        entry as written.
        """
        if tag is not None:
            check_ref_name(tag)
        if target.media_type not in mediatypes.MANIFEST_OR_INDEX_TYPES:
            raise InvalidArgument(
                f"cannot list a {target.media_type} in {INDEX_FILE}: want a manifest or index"
            )
        if not self.blobs.exists(target.digest):
            raise NotFound(f"{self.path}: blob {target.digest} is not in the layout")
        annotations = {k: v for k, v in target.annotations.items() if k != REF_NAME}
        if tag is not None:
            annotations[REF_NAME] = tag
        entry = Descriptor(
            target.media_type,
            target.digest,
            target.size,
            target.urls,
            annotations,
            None,
            target.artifact_type,
            target.platform,
        )
        with self._editing() as entries:
            if tag is None:
                entries[:] = [e for e in entries if e.digest != target.digest or e.annotations.get(REF_NAME)]
            else:
                entries[:] = [e for e in entries if e.annotations.get(REF_NAME) != tag]
            entries.append(entry)
        return entry

    def remove(self, name: str) -> None:
        """Drop the entry tagged (or with digest) ``name`` from ``index.json``; blobs stay."""
        entry = self.find(name)
        with self._editing() as entries:
            entries[:] = [e for e in entries if e != entry]

    def copy_from(self, store: ContentStore, target: Descriptor, tag: str | None = None) -> Descriptor:
        """Copy an image's blobs from ``store`` into the layout, then list it (tagged ``tag``)."""
        if tag is not None:
            check_ref_name(tag)
        copy_graph(store, self.blobs, target)
        return self.add(target, tag)

    def copy_to(self, store: ContentStore, name: str, lease: LeaseRef = None) -> Descriptor:
        """Copy image ``name`` (a tag or digest) and its blobs into ``store``; return its descriptor.

        The returned descriptor has no ``ref.name`` annotation: it is what an image record points at.
        """
        entry = self.find(name)
        copy_graph(self.blobs, store, entry, lease)
        annotations = {k: v for k, v in entry.annotations.items() if k != REF_NAME}
        return Descriptor(
            entry.media_type, entry.digest, entry.size, platform=entry.platform, annotations=annotations
        )

    @contextlib.contextmanager
    def _editing(self) -> Iterator[builtins.list[Descriptor]]:
        with _dir_lock(self.path):
            index = self.index()
            entries = list(index.manifests)
            yield entries
            new = ImageIndex(
                tuple(entries),
                media_type=mediatypes.OCI_INDEX,
                subject=index.subject,
                artifact_type=index.artifact_type,
                annotations=index.annotations,
            )
            atomic_write(self.path / INDEX_FILE, new.to_bytes())


@contextlib.contextmanager
def _dir_lock(path: Path) -> Iterator[None]:
    # An flock on the directory itself: no lock file appears in the layout.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
