"""signedIdentity: which image identity a signature may claim (containers-policy.json(5)).

Each rule compares the image's reference (as it was asked for: tagged or by digest) with the
``docker-reference`` the signed payload names. The payload's identity is normalized as Docker
does (``busybox`` is ``docker.io/library/busybox``) and gets no default tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.errors import InvalidArgument
from berth.spec.reference import Reference
from berth.trust.errors import PolicyError

MATCH_EXACT = "matchExact"
MATCH_REPO_DIGEST_OR_EXACT = "matchRepoDigestOrExact"
MATCH_REPOSITORY = "matchRepository"
EXACT_REFERENCE = "exactReference"
EXACT_REPOSITORY = "exactRepository"
REMAP_IDENTITY = "remapIdentity"
#: Each kind and the fields it takes besides ``type``.
KINDS = {
    MATCH_EXACT: (),
    MATCH_REPO_DIGEST_OR_EXACT: (),
    MATCH_REPOSITORY: (),
    EXACT_REFERENCE: ("dockerReference",),
    EXACT_REPOSITORY: ("dockerRepository",),
    REMAP_IDENTITY: ("prefix", "signedPrefix"),
}


@dataclass(frozen=True)
class SignedIdentity:
    """One signedIdentity object; ``values`` holds its fields other than ``type``."""

    kind: str = MATCH_REPO_DIGEST_OR_EXACT
    values: tuple[tuple[str, str], ...] = ()

    def value(self, name: str) -> str:
        """The field ``name`` (the parser made sure it is there)."""
        return dict(self.values)[name]

    def matches(self, image: Reference, signed: str) -> bool:
        """Whether a signature claiming ``signed`` is acceptable for ``image``."""
        try:
            claimed = Reference.parse(signed, default_tag=False)
        except InvalidArgument:
            return False
        if self.kind == MATCH_EXACT:
            return _exact(image, claimed)
        if self.kind == MATCH_REPO_DIGEST_OR_EXACT:
            return _repo_digest_or_exact(image, claimed)
        if self.kind == MATCH_REPOSITORY:
            return image.name == claimed.name
        if self.kind == EXACT_REFERENCE:
            return _exact(Reference.parse(self.value("dockerReference"), default_tag=False), claimed)
        if self.kind == EXACT_REPOSITORY:
            return Reference.parse(self.value("dockerRepository"), default_tag=False).name == claimed.name
        return _repo_digest_or_exact(self._remapped(image), claimed)

    def _remapped(self, image: Reference) -> Reference:
        """``image`` with ``prefix`` replaced by ``signedPrefix`` when its name starts with it
        (a whole host, or whole path components)."""
        prefix, signed_prefix = self.value("prefix"), self.value("signedPrefix")
        name = image.name
        if name != prefix and not name.startswith(prefix + "/"):
            return image
        suffix = str(image)[len(prefix) :]
        try:
            return Reference.parse(signed_prefix + suffix, default_tag=False)
        except InvalidArgument:
            return image


def _exact(image: Reference, claimed: Reference) -> bool:
    # Both must name one image (a tag or a digest), the same way.
    return bool(image.tag or image.digest) and str(image) == str(claimed)


def _repo_digest_or_exact(image: Reference, claimed: Reference) -> bool:
    if image.digest is not None and not image.tag:
        return image.name == claimed.name
    return _exact(image, claimed)


def parse_identity(obj: object, where: str) -> SignedIdentity:
    """A signedIdentity object, strictly: a known type and exactly that type's fields."""
    if not isinstance(obj, dict):
        raise PolicyError(f"{where}: signedIdentity is not a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in KINDS:
        raise PolicyError(f"{where}: unknown signedIdentity type {kind!r}")
    fields = KINDS[kind]
    extra = sorted(set(obj) - {"type", *fields})
    if extra:
        raise PolicyError(f"{where}: signedIdentity {kind} has unknown field {extra[0]!r}")
    values = []
    for name in fields:
        value = obj.get(name)
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}: signedIdentity {kind} needs a string {name!r}")
        _check_identity_value(kind, name, value, where)
        values.append((name, value))
    return SignedIdentity(kind, tuple(values))


def _check_identity_value(kind: str, name: str, value: str, where: str) -> None:
    if kind == REMAP_IDENTITY:
        tagged = "/" in value and ":" in value.rsplit("/", 1)[1]  # a host's ":port" is no tag
        if "@" in value or tagged:
            raise PolicyError(f"{where}: {name} {value!r} must not carry a tag or digest")
        return
    try:
        ref = Reference.parse(value, default_tag=False)
    except InvalidArgument as err:
        raise PolicyError(f"{where}: {name}: {err}") from None
    if kind == EXACT_REFERENCE and not (ref.tag or ref.digest):
        raise PolicyError(f"{where}: dockerReference {value!r} names no tag or digest")
    if kind == EXACT_REPOSITORY and (ref.tag or ref.digest):
        raise PolicyError(f"{where}: dockerRepository {value!r} must be a repository, without tag or digest")
