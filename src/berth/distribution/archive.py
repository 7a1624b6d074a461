"""``berth save`` and ``berth load``: images to and from ``docker save`` tars and OCI layout tars.

The transports of ``berth.distribution.transports`` do the copying (every blob verified on the
way); this module adds what the commands need around them: telling the two archive formats apart,
loading every image an archive holds under every name it gives (untagged when it gives none), and
checking the whole tar is readable before anything is written, so a truncated archive leaves
nothing in the store.

    save(root, "busybox:1", Path("bb.tar"), DOCKER_ARCHIVE)
    load(root, Path("bb.tar"))        # -> ["docker.io/library/busybox:1"]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from berth.distribution.tar_output import add_bytes, atomic_tar
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.image.images import ImageStore
from berth.image.importer import is_untagged, record_image, untagged_name
from berth.image.layout import REF_NAME
from berth.spec.descriptor import Descriptor
from berth.spec.manifest import ImageIndex
from berth.spec.reference import Reference

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from berth.distribution.transports import ImageSource
    from berth.distribution.transports.base import RawManifest

    #: The copier's ``admit`` hook (``CopyOptions.admit``).
    Admit = Callable[[ImageSource, RawManifest], Awaitable[None]]

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
FORMATS = (OCI_ARCHIVE, DOCKER_ARCHIVE)
#: containerd's annotation for an image's full name in an OCI layout (podman reads it too).
CONTAINERD_IMAGE_NAME = "io.containerd.image.name"


def _images_root(root: Path) -> Path:
    from berth.distribution.transports.store import images_root

    return images_root(root)


@contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            yield tar
    except FileNotFoundError:
        raise NotFound(f"archive {archive} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{archive} is a directory, not an archive") from None
    except (tarfile.TarError, EOFError) as err:
        raise InvalidArgument(f"cannot read archive {archive}: {err or 'truncated'}") from None


def _members(archive: Path) -> dict[str, tarfile.TarInfo]:
    """Every member by normalized name; reading them all finds a truncated archive up front."""
    with _open_tar(archive) as tar:
        members = {m.name.removeprefix("./").strip("/"): m for m in tar.getmembers()}
        # tarfile takes a header cut short for the end of the archive; POSIX ustar ends with zero
        # blocks, so their absence means the archive was truncated.
        assert tar.fileobj is not None
        tar.fileobj.seek(tar.offset)
        marker = tar.fileobj.read(tarfile.BLOCKSIZE)
        if len(marker) < tarfile.BLOCKSIZE or any(marker):
            raise InvalidArgument(f"cannot read archive {archive}: truncated (no end-of-archive marker)")
        return members


def detect_format(archive: Path) -> str:
    """``docker-archive`` (has ``manifest.json``) or ``oci-archive`` (has ``oci-layout``)."""
    names = _members(archive)
    if "manifest.json" in names:
        return DOCKER_ARCHIVE
    if "oci-layout" in names and "index.json" in names:
        return OCI_ARCHIVE
    raise InvalidArgument(f"{archive} is neither a docker-archive nor an oci-archive")


def _read_json(archive: Path, name: str) -> object:
    with _open_tar(archive) as tar:
        member = next((m for m in tar.getmembers() if m.name.removeprefix("./") == name), None)
        fh = tar.extractfile(member) if member is not None else None
        if fh is None:
            raise InvalidArgument(f"archive {archive} has no {name}")
        try:
            return json.loads(fh.read())
        except ValueError as err:
            raise InvalidArgument(f"archive {archive}: {name} is not valid JSON: {err}") from None


def save(root: Path, name: str, output: Path, fmt: str = DOCKER_ARCHIVE) -> Descriptor:
    """Write the image recorded as ``name`` to ``output`` in format ``fmt``; return its manifest.

    The archive names the image (RepoTags, or the ``ref.name`` annotation), unless it is untagged.
    """
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown archive format {fmt!r}: want {' or '.join(FORMATS)}")
    return asyncio.run(_save(root, name, output, fmt, tagged=not is_untagged(name)))


async def _save(root: Path, name: str, output: Path, fmt: str, tagged: bool) -> Descriptor:
    from berth.distribution.transports import ImageDestination, copy_image
    from berth.distribution.transports.docker_archive import DockerArchiveDestination
    from berth.distribution.transports.oci_archive import OCIArchiveDestination
    from berth.distribution.transports.store import StoreSource

    ref = Reference.parse(name)
    dest: ImageDestination
    if fmt == DOCKER_ARCHIVE:
        dest = DockerArchiveDestination(output, ref if tagged else None)
    else:
        dest = OCIArchiveDestination(output, str(ref) if tagged else "")
    async with StoreSource(root, ref) as source, dest:
        result = await copy_image(source, dest)
    return result.manifest


def save_docker_archive(root: Path, images: Sequence[tuple[str, Sequence[str]]], output: Path) -> None:
    """Write several images into one ``docker save`` archive, each with its own RepoTags.

    ``images`` pairs a record name (what to read) with the tags to write for it (podman's
    ``save -m``, or extra names given to ``save``). Each image is written by the docker-archive
    transport on its own, then the archives are merged: shared layers once, one ``manifest.json``
    entry per image, and ``repositories`` for the tags.
    """
    tags = [[_docker_tag(t) for t in image_tags] for _, image_tags in images]  # refuse bad tags first
    scratch = output.parent if output.parent.is_dir() else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=".berth-save-", dir=scratch) as tmp:
        parts = []
        for i, (name, _) in enumerate(images):
            part = Path(tmp) / f"{i}.tar"
            asyncio.run(_save(root, name, part, DOCKER_ARCHIVE, tagged=False))
            parts.append(part)
        _merge(list(zip(parts, tags, strict=True)), output)


def _docker_tag(text: str) -> str:
    ref = Reference.parse(text)
    if not ref.tag or ref.digest is not None:
        raise InvalidArgument(f"a docker archive tags images by name:tag, not {text!r}")
    return ref.familiar()


def _merge(parts: list[tuple[Path, list[str]]], output: Path) -> None:
    entries: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    with atomic_tar(output) as out:
        written: set[str] = set()
        for part, tags in parts:
            with tarfile.open(part) as tar:
                entry = _only_entry(tar)
                for member in tar.getmembers():
                    if member.name in written or member.name in ("manifest.json", "repositories"):
                        continue  # a layer another image shares, or what is rewritten below
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
                    written.add(member.name)
            entry["RepoTags"] = tags
            entries.append(entry)
            layers = entry.get("Layers")
            top = Path(str(layers[-1])).parent.name if isinstance(layers, list) and layers else ""
            for tag in tags:
                repo, _, label = tag.rpartition(":")
                if top:
                    repositories.setdefault(repo, {})[label] = top
        add_bytes(out, "manifest.json", json.dumps(entries).encode())
        if repositories:
            add_bytes(out, "repositories", json.dumps(repositories).encode())


def _only_entry(tar: tarfile.TarFile) -> dict[str, object]:
    fh = tar.extractfile("manifest.json")
    assert fh is not None
    (entry,) = json.loads(fh.read())
    assert isinstance(entry, dict)
    return entry


def load(root: Path, archive: Path, admit: Admit | None = None) -> list[str]:
    """Load every image of a docker-archive or oci-archive; return the names recorded. ``admit``
    (the signature policy) may refuse an image before anything of it is written."""
    fmt = detect_format(archive)
    if fmt == DOCKER_ARCHIVE:
        return asyncio.run(_load_docker(root, archive, admit))
    return asyncio.run(_load_oci(root, archive, admit))


def _parse_names(candidates: list[str]) -> list[str]:
    names = []
    for text in candidates:
        try:
            names.append(str(Reference.parse(text)))
        except BerthError:
            continue  # a name that is not a reference (a bare tag in ref.name): the image stays
    return names


async def _load_docker(root: Path, archive: Path, admit: Admit | None) -> list[str]:
    from berth.distribution.transports.docker_archive import DockerArchiveSource

    entries = _read_json(archive, "manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidArgument(f"{archive}: manifest.json is not a list of images")
    loaded: list[str] = []
    for i, entry in enumerate(entries):
        tags = [str(t) for t in entry.get("RepoTags") or []]
        async with DockerArchiveSource(archive, f"@{i}") as source:
            loaded += await _store(root, source, _parse_names(tags), admit)
    return loaded


async def _load_oci(root: Path, archive: Path, admit: Admit | None) -> list[str]:
    from berth.distribution.transports.oci_archive import OCIArchiveSource

    index = ImageIndex.parse(json.dumps(_read_json(archive, "index.json")).encode())
    loaded: list[str] = []
    for entry in index.manifests:
        wanted = [entry.annotations.get(CONTAINERD_IMAGE_NAME, ""), entry.annotations.get(REF_NAME, "")]
        names = _parse_names([n for n in wanted if n])[:1]
        async with OCIArchiveSource(archive, str(entry.digest)) as source:
            loaded += await _store(root, source, names, admit)
    return loaded


async def _store(root: Path, source: ImageSource, names: list[str], admit: Admit | None) -> list[str]:
    """Copy ``source`` into the store under a parking (untagged) record, then give it ``names``."""
    from berth.distribution.transports import CopyOptions, copy_image
    from berth.distribution.transports.store import StoreDestination

    top = await source.top_manifest()
    parked = untagged_name(top.digest)
    async with StoreDestination(root, Reference.parse(parked)) as dest:
        target = (await copy_image(source, dest, CopyOptions(admit=admit))).manifest
    images = ImageStore(_images_root(root))
    try:
        others = [r.name for r in images.list() if r.target.digest == target.digest and r.name != parked]
        if names:
            recorded = [record_image(images, name, target) for name in names]
        elif others:
            recorded = others[:1]  # already in the store under a name: no untagged copy
        else:
            recorded = [untagged_name(target.digest)]
            images.put(recorded[0], target)
        if parked not in recorded:
            with contextlib.suppress(NotFound):
                images.delete(parked)
        return recorded
    finally:
        images.close()
