"""The images in a store as the image commands show them: grouped, looked up, filtered.

An image is every name record pointing at one target (an index or a manifest); its ID is the
digest of its config (image-spec config.md, as podman and Docker show it). A short name is looked
up as made here (``localhost/NAME``) first, then as ``berth pull`` normalizes it; an ID by itself or
a prefix of at least 3 hex digits.
"""

from __future__ import annotations

import re

from berth.errors import BerthError, InvalidArgument, NotFound
from berth.spec.records import record, replace
from berth.spec.reference import Reference

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.image.images import Image, ImageStore, ResolvedImage
    from berth.spec.digest import Digest

_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{3,64})\Z")


@record
class CatalogImage:
    """One image: its name records (newest first), resolved for this platform unless broken."""

    records: list[Image]
    resolved: ResolvedImage | None
    error: str = ""

    @property
    def id(self) -> str:
        """The config digest's hex (the target's, when the image cannot be resolved)."""
        if self.resolved is not None:
            return self.resolved.manifest.config.digest.encoded
        return self.records[0].target.digest.encoded

    @property
    def names(self) -> list[str]:
        """The image's names, without the placeholder of an untagged image."""
        from berth.image.importer import is_untagged

        return [r.name for r in self.records if not is_untagged(r.name)]

    @property
    def digest(self) -> str:
        """The digest the names point at (``sha256:...``): an index's or a manifest's."""
        return str(self.records[0].target.digest)

    @property
    def manifest_digest(self) -> str:
        """The platform manifest's digest, ``""`` if the image cannot be resolved."""
        return str(self.resolved.descriptor.digest) if self.resolved is not None else ""

    @property
    def size(self) -> int:
        """Compressed size: config plus layers, as the manifest gives them."""
        if self.resolved is None:
            return 0
        manifest = self.resolved.manifest
        return manifest.config.size + sum(layer.size for layer in manifest.layers)

    @property
    def created(self) -> float:
        """Seconds since the epoch: the config's ``created``, else when the first name was stored."""
        if self.resolved is not None:
            stamp = timestamp(self.resolved.config.created)
            if stamp is not None:
                return stamp
        return min(r.created for r in self.records)

    @property
    def labels(self) -> dict[str, str]:
        """The config's labels (config.md#properties ``Labels``)."""
        return dict(self.resolved.config.config.labels) if self.resolved is not None else {}

    @property
    def repo_digests(self) -> list[str]:
        """``repository@digest`` for each repository the image is named in."""
        repos = sorted({Reference.parse(n).name for n in self.names})
        return [f"{repo}@{self.digest}" for repo in repos]

    @property
    def chain_id(self) -> Digest | None:
        """The chain ID of the top layer (image-spec config.md#layer-chainid); a container made from
        the image builds its root on this snapshot."""
        if self.resolved is None:
            return None
        from berth.image.commit import top_chain_id

        return top_chain_id(self.resolved)


def _has_domain(text: str) -> bool:
    # The reference grammar's rule (distribution's splitDockerDomain): a first component with a
    # '.' or ':', or "localhost", or an upper-case letter, names a registry.
    first, slash, _ = text.partition("/")
    return bool(slash) and (first == "localhost" or any(c in first for c in ".:") or first.lower() != first)


def local_name(text: str) -> str:
    """The canonical name of an image made on this host (``import``, ``commit``, ``tag``).

    podman's rule: a name without a registry goes under ``localhost/`` (``mine:1`` is
    ``localhost/mine:1``, ``a/b`` is ``localhost/a/b:latest``); a name with one is normalized as for
    ``pull`` (``docker.io/x`` is ``docker.io/library/x:latest``).
    """
    if _has_domain(text):
        return str(Reference.parse(text))
    Reference.parse(text)  # the reference's own errors name what the user typed
    return str(Reference.parse(f"localhost/{text}"))


def lookup_names(text: str) -> list[str]:
    """The canonical names a reference given on the command line may mean, in lookup order.

    A name with a registry means itself. A short name means the image made here
    (``localhost/NAME``) first, then the one ``pull`` would fetch (``docker.io/library/NAME``), as
    podman looks short names up in its local store.
    """
    pulled = str(Reference.parse(text))
    if _has_domain(text) or "@" in text:
        return [pulled]
    return [local_name(text), pulled]


def resolve_local(store: ImageStore, text: str) -> ResolvedImage:
    """The stored image ``text`` names, for this platform: for a short name, one made here
    (``localhost/NAME``) before the one ``pull`` would fetch. ``NotFound`` names the latter."""
    return resolve_first(store, lookup_names(text))


def resolve_first(store: ImageStore, names: list[str]) -> ResolvedImage:
    """The first of ``names`` the store holds, for this platform; ``NotFound`` names the last."""
    *first, last = names
    for name in first:
        try:
            return store.resolve(name)
        except NotFound:
            continue
    return store.resolve(last)


def timestamp(rfc3339: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (a config's ``created``); ``None`` if unreadable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def list_images(store: ImageStore) -> list[CatalogImage]:
    """Every image in the store, newest name first; an image that cannot be resolved carries the
    error instead of failing the listing."""
    groups: dict[str, list[Image]] = {}
    for image in sorted(store.list(), key=lambda r: -r.updated):
        groups.setdefault(str(image.target.digest), []).append(image)
    out = []
    for records in groups.values():
        try:
            out.append(CatalogImage(records, store.resolve(records[0].name)))
        except BerthError as err:
            out.append(CatalogImage(records, None, str(err)))
    return out


def find_image(store: ImageStore, text: str) -> tuple[CatalogImage, Image | None]:
    """The image ``text`` names, and the name record it named (``None`` when given by ID).

    ``NotFound`` if nothing matches; ``InvalidArgument`` for an ID prefix of several images.
    """
    images = list_images(store)
    try:
        keys = lookup_names(text)
    except BerthError:
        keys = []
    by_name = {record.name: (image, record) for image in images for record in image.records}
    for key in keys:
        if key in by_name:
            return by_name[key]
    match = _ID.match(text)
    if match is not None:
        prefix = match.group(1)
        hits = [i for i in images if i.id.startswith(prefix)]
        hits = hits or [i for i in images if i.records[0].target.digest.encoded.startswith(prefix)]
        if len({i.id for i in hits}) > 1:
            raise InvalidArgument(f"image ID prefix {text!r} is ambiguous")
        if hits:
            return hits[0], None
    raise NotFound(f"{text}: image not known")


def looks_like_id(text: str) -> bool:
    """Whether ``text`` could be an image ID or a prefix of one (hex digits, maybe ``sha256:``)."""
    return _ID.match(text) is not None


def check_filter(text: str) -> None:
    """Refuse a ``--filter`` that ``matches`` would not understand (before any image is read)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidArgument(f"invalid filter {text!r}: want KEY=VALUE")
    if key == "dangling" and value not in ("true", "false"):
        raise InvalidArgument(f"invalid filter {text!r}: dangling is true or false")
    if key not in ("dangling", "reference", "label"):
        raise InvalidArgument(f"invalid filter {text!r}: berth filters on dangling, reference and label")


def matches(image: CatalogImage, text: str) -> bool:
    """podman's ``--filter`` keys: dangling=true|false, reference=PATTERN (a glob over the full,
    familiar and repository forms of each name), label=KEY[=VALUE]."""
    import fnmatch

    check_filter(text)
    key, _, value = text.partition("=")
    if key == "dangling":
        return (not image.names) == (value == "true")
    if key == "reference":
        refs = [Reference.parse(n) for n in image.names]
        forms = [
            form for r in refs for form in (str(r), r.familiar(), r.name, r.familiar().rpartition(":")[0])
        ]
        # an image made here answers to its short name too (localhost/mine:1 as mine:1), as in podman
        forms += [f for r in refs if r.domain == "localhost" for f in (f"{r.path}:{r.tag}", r.path)]
        # and a pattern with no slash to the repository's last component (alpine: quay.io/libpod/alpine)
        if "/" not in value:
            forms += [
                f for r in refs for f in (r.path.rpartition("/")[2], f"{r.path.rpartition('/')[2]}:{r.tag}")
            ]
        return any(fnmatch.fnmatchcase(form, value) for form in forms)
    labels = image.labels
    name, has_value, want = value.partition("=")
    return name in labels and (not has_value or labels[name] == want)


@record(frozen=True)
class HistoryRow:
    """One step of an image's history; ``id`` is the image ID on the newest step, else ``<missing>``."""

    id: str
    created: str
    created_by: str
    size: int
    comment: str


def history(resolved: ResolvedImage) -> list[HistoryRow]:
    """Newest first: one row per history entry (config.md#properties ``history``), with layer
    sizes matched in order to the entries that are not ``empty_layer``."""
    layers = list(resolved.manifest.layers)
    rows = []
    layer_index = 0
    for step in resolved.config.history:
        size = 0
        if not step.empty_layer and layer_index < len(layers):
            size = layers[layer_index].size
            layer_index += 1
        rows.append(HistoryRow("<missing>", step.created, step.created_by, size, step.comment))
    if rows:
        rows[-1] = replace(rows[-1], id=resolved.manifest.config.digest.encoded)
    return list(reversed(rows))


def needed_chain_ids(images: list[CatalogImage]) -> set[Digest]:
    """The chain IDs of every layer of every image that resolves: the snapshots they keep."""
    from berth.image.snapshots import chain_ids

    return {c for i in images if i.resolved is not None for c in chain_ids(i.resolved.config.diff_ids)}
