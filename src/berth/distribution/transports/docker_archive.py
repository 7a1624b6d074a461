"""``docker-archive:FILE[:REF]``: the tar that ``docker save`` writes and ``docker load`` reads.

The archive holds ``manifest.json`` (``[{"Config": ..., "RepoTags": [...], "Layers": [...]}]``), the
image config as a JSON file and each layer as a tar file; ``repositories`` maps names to the top
layer id for older Docker versions. The archive has no registry manifest, so reading one makes an
OCI manifest (config as given, layers typed by their compression) and writing one keeps only the
config and layers.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

from berth.distribution.tar_output import add_bytes, atomic_tar
from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.distribution.transports.oci import ingest_blob
from berth.distribution.transports.oci_archive import _scratch
from berth.errors import InvalidArgument, NotFound
from berth.image.store.content import ContentStore
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest, new_hasher
from berth.spec.manifest import ImageManifest
from berth.spec.reference import Reference

_READ_SIZE = 1 << 20


def _layer_type(head: bytes) -> str:
    """The OCI layer media type for a layer file, from its magic number."""
    if head.startswith(b"\x1f\x8b"):
        return mediatypes.OCI_LAYER_GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return mediatypes.OCI_LAYER_ZSTD
    return mediatypes.OCI_LAYER_TAR


def _describe_member(tar: tarfile.TarFile, name: str, archive: Path) -> tuple[Digest, int, bytes]:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise InvalidArgument(
            f"docker archive {archive}: manifest.json names missing file {name!r}"
        ) from None
    fh = tar.extractfile(member)
    if fh is None:
        raise InvalidArgument(f"docker archive {archive}: {name!r} is not a regular file")
    hasher = new_hasher()
    head = b""
    while chunk := fh.read(_READ_SIZE):
        head = head or chunk[:4]
        hasher.update(chunk)
    return hasher.digest(), member.size, head


def _matches(tags: list[str], wanted: str) -> bool:
    want = Reference.parse(wanted)
    return any(Reference.parse(t) == want for t in tags)


class DockerArchiveSource(ImageSource):
    """Reads one image of a ``docker save`` archive (``REF`` is a tag in it, or ``@N``)."""

    transport = "docker-archive"

    def __init__(self, archive: Path, ref: str = "") -> None:
        self.archive = archive
        self.ref = ref
        self._members: dict[Digest, str] = {}
        self._top: RawManifest | None = None

    def _load(self) -> RawManifest:
        try:
            tar = tarfile.open(self.archive, "r:*")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise NotFound(f"archive {self.archive} does not exist") from None
        except (tarfile.TarError, OSError) as err:
            raise InvalidArgument(f"cannot read archive {self.archive}: {err}") from None
        with tar:
            entry = self._select(tar)
            config_name = entry.get("Config")
            layers = entry.get("Layers") or []
            if not isinstance(config_name, str) or not isinstance(layers, list):
                raise InvalidArgument(f"docker archive {self.archive}: malformed manifest.json entry")
            digest, size, _ = _describe_member(tar, config_name, self.archive)
            self._members[digest] = config_name
            config = Descriptor(mediatypes.OCI_CONFIG, digest, size)
            layer_descs = []
            for name in layers:
                digest, size, head = _describe_member(tar, str(name), self.archive)
                self._members[digest] = str(name)
                layer_descs.append(Descriptor(_layer_type(head), digest, size))
        doc = ImageManifest(config=config, layers=tuple(layer_descs))
        return RawManifest(doc.to_bytes(), mediatypes.OCI_MANIFEST)

    def _select(self, tar: tarfile.TarFile) -> dict[str, object]:
        try:
            fh = tar.extractfile("manifest.json")
            entries = json.loads(fh.read()) if fh else None
        except (KeyError, ValueError):
            entries = None
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise InvalidArgument(f"{self.archive} is not a docker archive (no valid manifest.json)")
        if not self.ref:
            if len(entries) != 1:
                raise InvalidArgument(f"docker archive {self.archive} holds {len(entries)} images; name one")
            return dict(entries[0])
        if self.ref.startswith("@") and self.ref[1:].isdigit():
            index = int(self.ref[1:])
            if index >= len(entries):
                raise NotFound(f"docker archive {self.archive} has no image @{index}")
            return dict(entries[index])
        for entry in entries:
            if _matches([str(t) for t in entry.get("RepoTags") or []], self.ref):
                return dict(entry)
        raise NotFound(f"no image tagged {self.ref!r} in docker archive {self.archive}")

    async def top_manifest(self) -> RawManifest:
        """An OCI manifest describing the archive's config and layers."""
        if self._top is None:
            self._top = await asyncio.to_thread(self._load)
        return self._top

    async def manifest(self, desc: Descriptor) -> RawManifest:
        """Docker archives hold no manifests but the synthesized one."""
        raise NotFound(f"docker archive {self.archive} holds no manifest {desc.digest}")

    async def blob(self, desc: Descriptor) -> AsyncIterator[bytes]:
        """Stream the config or layer file from the archive."""
        name = self._members.get(desc.digest)
        if name is None:
            raise NotFound(f"docker archive {self.archive} has no blob {desc.digest}")
        with tarfile.open(self.archive, "r:*") as tar:
            fh = tar.extractfile(name)
            assert fh is not None
            while chunk := fh.read(_READ_SIZE):
                yield chunk


class DockerArchiveDestination(ImageDestination):
    """Writes one image as a ``docker save`` archive, tagged ``REF`` if given."""

    transport = "docker-archive"
    accepts_index = False
    verifies_content = True  # blobs are staged through a verifying ingest

    def __init__(self, archive: Path, reference: Reference | None) -> None:
        self.archive = archive
        self.reference = reference
        self._dir = _scratch(archive)
        self._staged = ContentStore(self._dir, collectable=False)

    def _path(self, digest: Digest) -> Path:
        return self._staged.blob_path(digest)

    async def has_blob(self, desc: Descriptor) -> bool:
        """Whether this copy already staged the blob."""
        return self._staged.exists(desc.digest)

    async def put_blob(self, desc: Descriptor, chunks: AsyncIterator[bytes], source: ImageSource) -> None:
        """Stage the blob in a temporary directory."""
        await ingest_blob(self._staged, desc, chunks)

    async def put_manifest(self, manifest: RawManifest) -> None:
        """Only one image manifest fits; the copier never sends child manifests here."""
        raise InvalidArgument("a docker archive holds a single image, not an index")

    async def commit(self, top: RawManifest) -> None:
        """Write ``manifest.json``, ``repositories``, the config and the layers into the archive."""
        doc = ImageManifest.parse(top.data, top.media_type)
        await asyncio.to_thread(self._pack, doc)

    def _pack(self, doc: ImageManifest) -> None:
        config_name = f"{doc.config.digest.encoded}.json"
        layer_names = [f"{layer.digest.encoded}/layer.tar" for layer in doc.layers]
        tags = [self._tag()] if self.reference is not None else []
        entry = {"Config": config_name, "RepoTags": tags, "Layers": layer_names}
        files: list[tuple[str, Path | bytes]] = [(config_name, self._path(doc.config.digest))]
        files += [(n, self._path(layer.digest)) for n, layer in zip(layer_names, doc.layers, strict=True)]
        files.append(("manifest.json", json.dumps([entry]).encode()))
        if self.reference is not None and doc.layers:
            name, _, tag = self._tag().rpartition(":")
            files.append(("repositories", json.dumps({name: {tag: doc.layers[-1].digest.encoded}}).encode()))
        with atomic_tar(self.archive) as tar:
            for name, content in files:
                if isinstance(content, Path):
                    tar.add(content, arcname=name, recursive=False)
                else:
                    add_bytes(tar, name, content)

    def _tag(self) -> str:
        assert self.reference is not None
        if self.reference.digest is not None and not self.reference.tag:
            raise InvalidArgument("a docker archive is tagged by name:tag, not by digest")
        return self.reference.familiar()

    async def close(self, ok: bool) -> None:
        """Remove the staging directory."""
        shutil.rmtree(self._dir, ignore_errors=True)
