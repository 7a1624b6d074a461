"""Content descriptors (image-spec descriptor.md): what a blob is, where it is, how big it is."""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping

from berth.errors import InvalidArgument
from berth.spec import _json
from berth.spec.digest import Digest
from berth.spec.platform import Platform
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

# RFC 6838 section 4.2: type-name "/" subtype-name, each 1-127 restricted-name characters.
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z")


def check_media_type(value: str, path: str) -> str:
    """``value`` if it is an RFC 6838 media type (descriptor.md#properties ``mediaType``)."""
    if not _MEDIA_TYPE.match(value):
        raise InvalidArgument(f"{path}: invalid media type {value!r}")
    return value


def parse_digest(text: str, where: str) -> Digest:
    """``text`` as a digest; ``InvalidArgument`` prefixed with ``where`` if it is not exactly one."""
    try:
        digest = Digest.parse(text)
    except InvalidArgument as err:
        raise InvalidArgument(f"{where}: {err}") from None
    if str(digest) != text:  # e.g. a trailing newline the grammar's "$" lets through
        raise InvalidArgument(f"{where}: invalid digest {text!r}")
    return digest


@record(frozen=True)
class Descriptor:
    """A reference to content: ``Descriptor(OCI_MANIFEST, Digest.of(data), len(data))``.

    Equality compares every field; the hash uses (mediaType, digest, size) so descriptors can be
    set members.
    """

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: The embedded content (descriptor.md#embedded-content), already decoded and verified.
    data: bytes | None = None
    artifact_type: str = ""
    platform: Platform | None = None

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest, self.size))

    @classmethod
    def of(cls, media_type: str, content: bytes, **extra: Any) -> Descriptor:
        """The descriptor of ``content`` (sha256), with any other field given by keyword."""
        return cls(media_type, Digest.of(content), len(content), **extra)

    @classmethod
    def from_json(cls, obj: Any, path: str) -> Descriptor:
        """Read and validate a descriptor object found at ``path`` in a document."""
        obj = _json.want_object(obj, path)
        media_type = check_media_type(_json.req_str(obj, "mediaType", path), f"{path}.mediaType")
        digest = parse_digest(_json.req_str(obj, "digest", path), f"{path}.digest")
        size = _json.get_int(obj, "size", path, required=True)
        assert size is not None
        if size < 0:
            raise InvalidArgument(f"{path}.size: must not be negative, got {size}")
        artifact_type = _json.get_str(obj, "artifactType", path) or ""
        if artifact_type:
            check_media_type(artifact_type, f"{path}.artifactType")
        platform_obj = obj.get("platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            urls=_json.get_str_list(obj, "urls", path) or (),
            annotations=_json.get_str_map(obj, "annotations", path) or {},
            data=_embedded(obj, path, digest, size),
            artifact_type=artifact_type,
            platform=None if platform_obj is None else Platform.from_json(platform_obj, f"{path}.platform"),
        )

    def to_json(self) -> dict[str, Any]:
        """The descriptor as a JSON object, fields in the spec's order, empty optionals left out."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            import base64  # embedded data is rare; not every start should load base64

            out["data"] = base64.b64encode(self.data).decode()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


def _embedded(obj: Mapping[str, Any], path: str, digest: Digest, size: int) -> bytes | None:
    text = _json.get_str(obj, "data", path)
    if text is None:
        return None
    import base64

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{path}.data: not valid base64") from None
    # descriptor.md#embedded-content: the data MUST be verified against the digest and size.
    if len(data) != size or (digest.verifiable and Digest.of(data, digest.algorithm) != digest):
        raise InvalidArgument(f"{path}.data: does not match the descriptor's digest and size")
    return data
