"""Image manifests and image indexes: OCI (manifest.md, image-index.md) and Docker schema 2.

A parsed document remembers the exact bytes it came from: its digest is the digest of those bytes,
and ``to_bytes()`` gives them back unchanged, because re-encoding JSON would change the digest that
registries and indexes refer to. Documents built in code are encoded once, compactly.

    doc = parse(data)                       # an ImageManifest or an ImageIndex
    manifest = ImageManifest.parse(data)    # or insist on one kind
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.errors import InvalidArgument, NotFound
from berth.spec import _json, mediatypes
from berth.spec.descriptor import Descriptor, check_media_type
from berth.spec.digest import Digest
from berth.spec.platform import Platform
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self


class _Document:
    """What manifests and indexes share: exact bytes, digest and descriptor, and the fields around
    each kind's own (mediaType, artifactType, subject, annotations)."""

    _raw: bytes | None = None
    #: The document's name in errors, and what the other kind is called there.
    _name: ClassVar[str]
    _other: ClassVar[str]
    # Declared by each kind as dataclass fields, after its own (they keep their positions).
    media_type: str
    subject: Descriptor | None
    artifact_type: str
    annotations: Mapping[str, str]

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Self:
        """Parse bytes that must hold this kind of document; ``media_type`` is the Content-Type
        they came with, if any."""
        doc = parse(data, media_type)
        if not isinstance(doc, cls):
            raise InvalidArgument(
                f"{cls._name}: want an image {cls._name}, got {cls._other} ({doc.media_type})"
            )
        return doc

    def _body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out.update(self._body())
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        """The document's bytes: exactly those parsed, or a compact encoding of one built in code."""
        if self._raw is None:
            object.__setattr__(self, "_raw", _json.dump(self._encode()))
        assert self._raw is not None
        return self._raw

    def digest(self) -> Digest:
        """The sha256 digest of ``to_bytes()``."""
        return Digest.of(self.to_bytes())

    def descriptor(self, **extra: Any) -> Descriptor:
        """A descriptor of this document (its media type, digest and size), plus ``extra`` fields."""
        return Descriptor.of(self.media_type, self.to_bytes(), **extra)


@record(frozen=True)
class ImageManifest(_Document):
    """An image manifest: one config plus an ordered list of layers (manifest.md)."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_MANIFEST
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    _name: ClassVar[str] = "manifest"
    _other: ClassVar[str] = "an index"

    @property
    def is_docker(self) -> bool:
        """Whether this is a Docker schema 2 manifest rather than an OCI one."""
        return self.media_type == mediatypes.DOCKER_MANIFEST

    def children(self) -> list[Descriptor]:
        """Every blob this manifest needs: the config, then the layers (not the subject)."""
        return [self.config, *self.layers]

    def _body(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "layers": [d.to_json() for d in self.layers]}


@record(frozen=True)
class ImageIndex(_Document):
    """An image index or Docker manifest list: manifests for several platforms (image-index.md)."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_INDEX
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    _name: ClassVar[str] = "index"
    _other: ClassVar[str] = "a manifest"

    def children(self) -> list[Descriptor]:
        """The manifests (or nested indexes) this index lists."""
        return list(self.manifests)

    def select(self, wanted: Platform) -> Descriptor:
        """The entry that best runs on ``wanted``: exact variant first, then older compatible ones.

        Raises ``NotFound`` naming the wanted platform and every platform the index offers.
        """
        best: tuple[int, int, Descriptor] | None = None
        for i, desc in enumerate(self.manifests):
            if desc.platform is None or desc.media_type not in mediatypes.MANIFEST_OR_INDEX_TYPES:
                continue
            rank = wanted.rank(desc.platform)
            if rank is not None and (best is None or (rank, i) < best[:2]):
                best = (rank, i, desc)
        if best is None:
            offered = sorted({str(d.platform.normalize()) for d in self.manifests if d.platform})
            raise NotFound(
                f"no manifest for platform {wanted.normalize()} in index; "
                f"available: {', '.join(offered) or 'none'}"
            )
        return best[2]

    def _body(self) -> dict[str, Any]:
        return {"manifests": [d.to_json() for d in self.manifests]}


def parse(data: bytes, media_type: str | None = None) -> ImageManifest | ImageIndex:
    """Parse a manifest or index, telling them apart by ``mediaType`` (or by shape if it is absent).

    ``media_type`` is the type the bytes came with (HTTP Content-Type, a descriptor's mediaType);
    when both it and the document name a type they must agree.
    """
    obj = _json.load_object(data, "manifest")
    declared = _json.get_str(obj, "mediaType", "manifest")
    if declared is not None and media_type is not None and declared != media_type:
        raise InvalidArgument(f"manifest.mediaType: {declared!r} does not match the expected {media_type!r}")
    kind = declared or media_type or _guess(obj)
    if kind in mediatypes.INDEX_TYPES:
        doc: ImageManifest | ImageIndex = _parse_index(obj, kind, declared)
    elif kind in mediatypes.MANIFEST_TYPES:
        doc = _parse_manifest(obj, kind, declared)
    else:
        raise InvalidArgument(f"manifest.mediaType: unsupported media type {kind!r}")
    object.__setattr__(doc, "_raw", bytes(data))
    return doc


def _guess(obj: Mapping[str, Any]) -> str:
    # image-spec considerations: without mediaType a document is an index if it lists manifests.
    return mediatypes.OCI_INDEX if "manifests" in obj else mediatypes.OCI_MANIFEST


def _check_common(obj: Mapping[str, Any], path: str, kind: str, declared: str | None) -> None:
    version = _json.get_int(obj, "schemaVersion", path, required=True)
    if version != 2:
        raise InvalidArgument(f"{path}.schemaVersion: want 2, got {version}")
    if declared is None and kind.startswith("application/vnd.docker."):
        # Docker schema 2 requires mediaType in the document itself.
        raise InvalidArgument(f"{path}.mediaType: required field missing")


def _artifact_type(obj: Mapping[str, Any], path: str) -> str:
    value = _json.get_str(obj, "artifactType", path) or ""
    return check_media_type(value, f"{path}.artifactType") if value else ""


def _required_array(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    # Go encodes an empty slice as null (umoci init writes "manifests": null): read it as empty.
    if key in obj and obj[key] is None:
        return []
    items = _json.get_list(obj, key, path, required=True)
    assert items is not None
    return items


def _subject(obj: Mapping[str, Any], path: str) -> Descriptor | None:
    value = obj.get("subject")
    return None if value is None else Descriptor.from_json(value, f"{path}.subject")


def _parse_manifest(obj: Mapping[str, Any], kind: str, declared: str | None) -> ImageManifest:
    path = "manifest"
    _check_common(obj, path, kind, declared)
    if "manifests" in obj:
        raise InvalidArgument(f"{path}.manifests: not allowed in an image manifest")
    layers = _required_array(obj, "layers", path)
    if obj.get("config") is None:
        raise InvalidArgument(f"{path}.config: required field missing")
    return ImageManifest(
        config=Descriptor.from_json(obj["config"], f"{path}.config"),
        layers=tuple(Descriptor.from_json(d, f"{path}.layers[{i}]") for i, d in enumerate(layers)),
        media_type=kind,
        subject=_subject(obj, path),
        artifact_type=_artifact_type(obj, path),
        annotations=_json.get_str_map(obj, "annotations", path) or {},
    )


def _parse_index(obj: Mapping[str, Any], kind: str, declared: str | None) -> ImageIndex:
    path = "index"
    _check_common(obj, path, kind, declared)
    if "config" in obj or "layers" in obj:
        raise InvalidArgument(f"{path}: an index has no config or layers")
    entries = _required_array(obj, "manifests", path)
    return ImageIndex(
        manifests=tuple(Descriptor.from_json(d, f"{path}.manifests[{i}]") for i, d in enumerate(entries)),
        media_type=kind,
        subject=_subject(obj, path),
        artifact_type=_artifact_type(obj, path),
        annotations=_json.get_str_map(obj, "annotations", path) or {},
    )
