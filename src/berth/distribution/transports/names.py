"""Transport-qualified image names, as ``berth copy`` and skopeo take them.

    docker://REFERENCE             an image in a registry
    oci:DIR[:REF]                  an OCI image layout directory
    oci-archive:FILE[:REF]         a tar of an OCI image layout
    docker-archive:FILE[:REF]      a ``docker save`` tar
    berth:REFERENCE                Berth's own image store (``containers-storage:`` is an alias)

As in containers/image, the path ends at the first ``:`` after the transport.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.errors import InvalidArgument

TRANSPORTS = ("docker", "oci", "oci-archive", "docker-archive", "berth")
_ALIASES = {"containers-storage": "berth"}


@dataclass(frozen=True)
class ImageName:
    """A parsed name: the transport, a path (file transports) and the reference part."""

    transport: str
    path: str
    reference: str

    def __str__(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.reference}"
        if self.transport == "berth":
            return f"berth:{self.reference}"
        return f"{self.transport}:{self.path}" + (f":{self.reference}" if self.reference else "")


def parse_image_name(text: str) -> ImageName:
    """Parse ``TRANSPORT:DETAILS``; ``InvalidArgument`` naming the problem if it is not one."""
    transport, sep, rest = text.partition(":")
    transport = _ALIASES.get(transport, transport)
    if not sep or transport not in TRANSPORTS:
        raise InvalidArgument(
            f"invalid image name {text!r}: want TRANSPORT:DETAILS with a transport of {', '.join(TRANSPORTS)}"
        )
    if transport == "docker":
        if not rest.startswith("//") or len(rest) == 2:
            raise InvalidArgument(f"invalid image name {text!r}: want docker://REFERENCE")
        return ImageName("docker", "", rest[2:])
    if transport == "berth":
        if not rest:
            raise InvalidArgument(f"invalid image name {text!r}: want berth:REFERENCE")
        return ImageName("berth", "", rest)
    path, _, reference = rest.partition(":")
    if not path:
        raise InvalidArgument(f"invalid image name {text!r}: want {transport}:PATH[:REF]")
    return ImageName(transport, path, reference)
