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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from berth.errors import BerthError, InvalidArgument, NotFound
from berth.image.images import ImageStore
from berth.image.importer import is_untagged, record_image, untagged_name
from berth.image.layout import REF_NAME
from berth.spec.descriptor import Descriptor
from berth.spec.manifest import ImageIndex
from berth.spec.reference import Reference

if TYPE_CHECKING:
    from berth.distribution.transports import ImageSource

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
    return asyncio.run(_save(root, name, output, fmt))


async def _save(root: Path, name: str, output: Path, fmt: str) -> Descriptor:
    from berth.distribution.transports import ImageDestination, copy_image
    from berth.distribution.transports.docker_archive import DockerArchiveDestination
    from berth.distribution.transports.oci_archive import OCIArchiveDestination
    from berth.distribution.transports.store import StoreSource

    ref = Reference.parse(name)
    tagged = not is_untagged(name)
    dest: ImageDestination
    if fmt == DOCKER_ARCHIVE:
        dest = DockerArchiveDestination(output, ref if tagged else None)
    else:
        dest = OCIArchiveDestination(output, str(ref) if tagged else "")
    async with StoreSource(root, ref) as source, dest:
        result = await copy_image(source, dest)
    return result.manifest


def load(root: Path, archive: Path) -> list[str]:
    """Load every image of a docker-archive or oci-archive; return the names recorded."""
    fmt = detect_format(archive)
    if fmt == DOCKER_ARCHIVE:
        return asyncio.run(_load_docker(root, archive))
    return asyncio.run(_load_oci(root, archive))


def _parse_names(candidates: list[str]) -> list[str]:
    names = []
    for text in candidates:
        try:
            names.append(str(Reference.parse(text)))
        except BerthError:
            continue  # a name that is not a reference (a bare tag in ref.name): the image stays
    return names


async def _load_docker(root: Path, archive: Path) -> list[str]:
    from berth.distribution.transports.docker_archive import DockerArchiveSource

    entries = _read_json(archive, "manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidArgument(f"{archive}: manifest.json is not a list of images")
    loaded: list[str] = []
    for i, entry in enumerate(entries):
        tags = [str(t) for t in entry.get("RepoTags") or []]
        async with DockerArchiveSource(archive, f"@{i}") as source:
            loaded += await _store(root, source, _parse_names(tags))
    return loaded


async def _load_oci(root: Path, archive: Path) -> list[str]:
    from berth.distribution.transports.oci_archive import OCIArchiveSource

    index = ImageIndex.parse(json.dumps(_read_json(archive, "index.json")).encode())
    loaded: list[str] = []
    for entry in index.manifests:
        wanted = [entry.annotations.get(CONTAINERD_IMAGE_NAME, ""), entry.annotations.get(REF_NAME, "")]
        names = _parse_names([n for n in wanted if n])[:1]
        async with OCIArchiveSource(archive, str(entry.digest)) as source:
            loaded += await _store(root, source, names)
    return loaded


async def _store(root: Path, source: ImageSource, names: list[str]) -> list[str]:
    """Copy ``source`` into the store under a parking (untagged) record, then give it ``names``."""
    from berth.distribution.transports import copy_image
    from berth.distribution.transports.store import StoreDestination

    top = await source.top_manifest()
    parked = untagged_name(top.digest)
    async with StoreDestination(root, Reference.parse(parked)) as dest:
        target = (await copy_image(source, dest)).manifest
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
