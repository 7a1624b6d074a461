"""Per-registry settings and short-name rules from ``registries.conf`` (containers-registries.conf(5)).

Berth reads the files podman, skopeo and buildah read (``registries_files`` finds them), merges them
in order, then applies Berth's own file last. The v2 format::

    unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
    short-name-mode = "enforcing"           # or "permissive" (the default) / "disabled"
    credential-helpers = ["containers-auth.json"]

    [[registry]]
    prefix = "docker.io/library"            # which references this entry applies to; "*.example.com" too
    location = "registry.internal/hub"      # where they are really fetched (defaults to prefix)
    insecure = true                         # HTTP, or HTTPS without certificate checks
    blocked = false
    mirror-by-digest-only = false
    [[registry.mirror]]
    location = "mirror.internal/hub"
    insecure = true
    pull-from-mirror = "all"                # or "digest-only" / "tag-only"

    [aliases]
    "fedora" = "registry.fedoraproject.org/fedora"

The longest matching ``prefix`` wins. Mirrors are tried in order before the location, for pulls only.
The deprecated v1 format (``[registries.search]``, ``.insecure``, ``.block`` lists) is read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from berth.errors import InvalidArgument
from berth.spec.reference import Reference, is_short_name

SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")
#: containers-registries.conf(5): the mode when no file sets one.
DEFAULT_SHORT_NAME_MODE = "permissive"
#: The credential helper name that means "the auth.json files" (containers-auth.json(5)).
AUTH_FILES_HELPER = "containers-auth.json"
_PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


@dataclass(frozen=True)
class Endpoint:
    """Where to reach a repository: ``host[:port][/path-prefix]``, whether it is insecure, and (for a
    mirror) which pulls may use it."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = ""


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table; ``origin`` is the file it came from."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Endpoint, ...] = ()
    mirror_by_digest_only: bool = False
    origin: str = ""


@dataclass(frozen=True)
class Alias:
    """A short-name alias's fully qualified repository (``None``: erased by a later file)."""

    value: str | None
    origin: str


@dataclass(frozen=True)
class RegistriesConf:
    """Parsed, possibly merged, files. A ``None`` setting was set by no file; ``files`` lists the
    files read, in order."""

    registries: tuple[RegistryEntry, ...] = ()
    search: tuple[str, ...] | None = None
    search_origin: str = ""
    short_name_mode: str | None = None
    short_name_mode_origin: str = ""
    aliases: Mapping[str, Alias] = field(default_factory=dict)
    credential_helpers: tuple[str, ...] | None = None
    files: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        """The short-name mode in force."""
        return self.short_name_mode or DEFAULT_SHORT_NAME_MODE

    @property
    def helpers(self) -> tuple[str, ...]:
        """The credential helpers to ask, in order (default: the auth files)."""
        return self.credential_helpers or (AUTH_FILES_HELPER,)

    def merged(self, later: RegistriesConf) -> RegistriesConf:
        """This configuration overridden by ``later``'s (containers-registries.conf.d(5)): an entry
        with the same prefix replaces the earlier one, aliases merge by name, and every other key
        ``later`` sets replaces this one's."""
        by_prefix = {entry.prefix: entry for entry in (*self.registries, *later.registries)}
        search_set = later.search is not None
        mode_set = later.short_name_mode is not None
        return RegistriesConf(
            registries=tuple(by_prefix[p] for p in sorted(by_prefix)),
            search=later.search if search_set else self.search,
            search_origin=later.search_origin if search_set else self.search_origin,
            short_name_mode=later.short_name_mode if mode_set else self.short_name_mode,
            short_name_mode_origin=later.short_name_mode_origin if mode_set else self.short_name_mode_origin,
            aliases={**self.aliases, **later.aliases},
            credential_helpers=(
                later.credential_helpers if later.credential_helpers is not None else self.credential_helpers
            ),
            files=(*self.files, *later.files),
        )

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix matches ``name`` (``host/repository``) most specifically."""
        best: RegistryEntry | None = None
        # Entries are sorted by prefix, so of two equally long prefixes ("*.a.io", "b.a.io") the
        # first wins, as in containers/image.
        for entry in self.registries:
            if _match_length(name, entry.prefix) >= 0 and (
                best is None or len(entry.prefix) > len(best.prefix)
            ):
                best = entry
        return best

    def pull_endpoints(self, name: str, by_digest: bool) -> list[tuple[Endpoint, str]]:
        """``(endpoint, repository-at-that-endpoint)`` pairs to try for a pull, in order."""
        entry = self.find(name)
        if entry is None:
            return [_split(Endpoint(name))]
        if entry.blocked:
            raise InvalidArgument(
                f"registry {entry.prefix} is blocked in {entry.origin or 'registries.conf'}"
            )
        mirrors = [m for m in entry.mirrors if _mirror_serves(entry, m, by_digest)]
        return [_split(_rewrite(name, entry.prefix, ep)) for ep in (*mirrors, _primary(entry))]

    def push_endpoint(self, name: str) -> tuple[Endpoint, str]:
        """Where a push of ``name`` goes (mirrors are never pushed to)."""
        entry = self.find(name)
        if entry is None:
            return _split(Endpoint(name))
        return _split(_rewrite(name, entry.prefix, _primary(entry)))

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` is marked insecure as a location or a mirror anywhere in the files."""
        for entry in self.registries:
            if entry.location.split("/", 1)[0] == host and entry.insecure:
                return True
            if any(m.location.split("/", 1)[0] == host and m.insecure for m in entry.mirrors):
                return True
        return False


def _match_length(name: str, prefix: str) -> int:
    """How much of ``name`` ``prefix`` matches, or -1 (containers-registries.conf(5) "Choosing a
    [[registry]] TOML table"): the prefix and then ``/``, ``:``, ``@`` or the end; ``*.example.com``
    matches any subdomain of example.com."""
    if prefix.startswith("*."):
        at = name.find(prefix[1:])
        if at < 0 or "/" in name[:at]:
            return -1
        end = at + len(prefix) - 1
    else:
        if not name.startswith(prefix):
            return -1
        end = len(prefix)
    return end if end == len(name) or name[end] in "/:@" else -1


def _mirror_serves(entry: RegistryEntry, mirror: Endpoint, by_digest: bool) -> bool:
    if entry.mirror_by_digest_only:
        return by_digest
    if mirror.pull_from_mirror == "digest-only":
        return by_digest
    if mirror.pull_from_mirror == "tag-only":
        return not by_digest
    return True


def _primary(entry: RegistryEntry) -> Endpoint:
    return Endpoint(entry.location, entry.insecure)


def _rewrite(name: str, prefix: str, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` pointed at ``name`` with its matched ``prefix`` replaced by the endpoint's
    location; an empty location (a wildcard prefix's) leaves the name as it is."""
    if not endpoint.location:
        return replace(endpoint, location=name)
    return replace(endpoint, location=endpoint.location + name[_match_length(name, prefix) :])


def _split(endpoint: Endpoint) -> tuple[Endpoint, str]:
    host, _, repository = endpoint.location.partition("/")
    return Endpoint(host, endpoint.insecure), repository


# --- parsing -----------------------------------------------------------------------------------


def parse(text: str, where: str = "registries.conf", *, v2_only: bool = False) -> RegistriesConf:
    """Parse one file's text (``v2_only`` for drop-ins, which may not use the v1 format).

    Raises ``InvalidArgument`` naming ``where`` and the first problem, as one line.
    """
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgument(f"{where}: {err}") from None
    try:
        return _parse_document(doc, where, v2_only)
    except _Problem as problem:
        raise InvalidArgument(f"{where}: {problem}") from None


class _Problem(Exception):
    """What is wrong with a file, before the file's name is put in front."""


def _parse_document(doc: dict[str, Any], where: str, v2_only: bool) -> RegistriesConf:
    v2 = _parse_v2(doc, where)
    v1 = _parse_v1(doc.get("registries", {}))
    if v1 is None:
        return v2
    if v2_only:
        raise _Problem("a drop-in file must use the v2 format, not [registries.search/insecure/block]")
    if v2.registries or v2.search or v2.aliases or v2.short_name_mode or v2.credential_helpers:
        raise _Problem("mixing the v1 format ([registries.*]) with the v2 format is not supported")
    search, entries = v1
    return _checked(RegistriesConf(_registries(entries, where), search, where, files=(where,)))


def _parse_v2(doc: dict[str, Any], where: str) -> RegistriesConf:
    tables = doc.get("registry", [])
    if not isinstance(tables, list):
        raise _Problem("'registry' must be an array of tables ([[registry]])")
    entries = [_registry(table, i + 1) for i, table in enumerate(tables)]
    search = _strings(doc, "unqualified-search-registries")
    mode = doc.get("short-name-mode")
    if mode in ("", None):
        mode = None
    elif mode not in SHORT_NAME_MODES:
        raise _Problem(f"short-name-mode must be one of {', '.join(SHORT_NAME_MODES)}, not {mode!r}")
    return _checked(
        RegistriesConf(
            registries=_registries(entries, where),
            search=tuple(_search_entry(s) for s in search) if search is not None else None,
            search_origin=where if search is not None else "",
            short_name_mode=mode,
            short_name_mode_origin=where if mode else "",
            aliases=_parse_aliases(doc.get("aliases", {}), where),
            credential_helpers=_strings(doc, "credential-helpers"),
            files=(where,),
        )
    )


def _registries(entries: list[RegistryEntry], where: str) -> tuple[RegistryEntry, ...]:
    # Within one file the first entry for a prefix wins (later ones could never be chosen).
    by_prefix: dict[str, RegistryEntry] = {}
    for entry in entries:
        by_prefix.setdefault(entry.prefix, replace(entry, origin=where))
    return tuple(by_prefix[p] for p in sorted(by_prefix))


def _registry(table: object, number: int) -> RegistryEntry:
    at = f"registry #{number}"
    if not isinstance(table, dict):
        raise _Problem(f"{at} is not a table")
    location = _location(table, "location", at)
    prefix = _location(table, "prefix", at) or location
    if not prefix:
        raise _Problem(f"{at}: neither location nor prefix is set")
    wildcard = prefix.startswith("*.")
    if wildcard and any(c in prefix for c in "/:@"):
        raise _Problem(f"{at}: wildcard prefix {prefix!r} must look like *.example.com")
    if not location and not wildcard:
        raise _Problem(f"{at}: location is unset and prefix {prefix!r} is not a wildcard (*.example.com)")
    if "pull-from-mirror" in table:
        raise _Problem(f"{at}: pull-from-mirror belongs in a [[registry.mirror]] table, not in [[registry]]")
    by_digest_only = _bool(table, "mirror-by-digest-only", at)
    mirrors = table.get("mirror", [])
    if not isinstance(mirrors, list):
        raise _Problem(f"{at}: 'mirror' must be an array of tables ([[registry.mirror]])")
    return RegistryEntry(
        prefix=prefix,
        location=location,
        insecure=_bool(table, "insecure", at),
        blocked=_bool(table, "blocked", at),
        mirrors=tuple(_mirror(m, f"{at} mirror #{j + 1}", by_digest_only) for j, m in enumerate(mirrors)),
        mirror_by_digest_only=by_digest_only,
    )


def _mirror(table: object, at: str, registry_by_digest_only: bool) -> Endpoint:
    if not isinstance(table, dict):
        raise _Problem(f"{at} is not a table")
    location = _location(table, "location", at)
    if not location:
        raise _Problem(f"{at}: location is unset")
    policy = table.get("pull-from-mirror", "")
    if policy and policy not in _PULL_FROM_MIRROR:
        raise _Problem(
            f"{at}: pull-from-mirror must be one of {', '.join(_PULL_FROM_MIRROR)}, not {policy!r}"
        )
    if policy and registry_by_digest_only:
        raise _Problem(f"{at}: pull-from-mirror cannot be set when the registry sets mirror-by-digest-only")
    return Endpoint(location, _bool(table, "insecure", at), str(policy))


def _checked(conf: RegistriesConf) -> RegistriesConf:
    """Refuse one location given conflicting ``insecure`` or ``blocked`` settings (containers/image
    refuses it too: which one applies would depend on the reference)."""
    seen: dict[str, RegistryEntry] = {}
    for entry in conf.registries:
        key = entry.location or entry.prefix
        other = seen.setdefault(key, entry)
        for setting in ("insecure", "blocked"):
            if getattr(other, setting) != getattr(entry, setting):
                raise _Problem(f"registry {key!r} is defined several times with conflicting {setting!r}")
    return conf


def _parse_v1(table: object) -> tuple[tuple[str, ...], list[RegistryEntry]] | None:
    """The v1 ``[registries.search]``, ``[registries.insecure]``, ``[registries.block]`` lists as a
    search list and entries (one per location, blocked before insecure, as containers/image orders
    them); ``None`` if the file has none."""
    if not isinstance(table, dict):
        raise _Problem("'registries' must be a table ([registries.search] etc.)")
    lists = {}
    for key in ("search", "insecure", "block"):
        sub = table.get(key, {})
        if not isinstance(sub, dict):
            raise _Problem(f"[registries.{key}] must be a table")
        lists[key] = _strings(sub, "registries") or ()
    if not any(lists.values()):
        return None
    entries: dict[str, RegistryEntry] = {}
    for raw in lists["block"]:
        location = _trim(raw)
        entries[location] = replace(entries.get(location, RegistryEntry(location, location)), blocked=True)
    for raw in lists["insecure"]:
        location = _trim(raw)
        entries[location] = replace(entries.get(location, RegistryEntry(location, location)), insecure=True)
    return tuple(_search_entry(s) for s in lists["search"]), list(entries.values())


def _parse_aliases(table: object, where: str) -> dict[str, Alias]:
    """An ``[aliases]`` table: each key a short name, each value a fully qualified repository, both
    without tag or digest; an empty value erases the alias an earlier file set."""
    if not isinstance(table, dict):
        raise _Problem("'aliases' must be a table")
    aliases = {}
    for name, value in table.items():
        if not is_short_name(name) or _untagged_name(name) is None:
            raise _Problem(f"alias {name!r} must be a short name without registry, tag or digest")
        if not isinstance(value, str):
            raise _Problem(f"alias {name!r}: the value must be a string")
        if not value:
            aliases[name] = Alias(None, where)
            continue
        target = None if is_short_name(value) else _untagged_name(value)
        if target is None:
            raise _Problem(
                f"alias {name!r}: {value!r} must name a registry and repository, without tag or digest"
            )
        aliases[name] = Alias(target, where)
    return aliases


def _untagged_name(text: str) -> str | None:
    """The normalized repository ``text`` names, or None if it has a tag or digest."""
    try:
        ref = Reference.parse(text, default_tag=False)
    except InvalidArgument as err:
        raise _Problem(str(err)) from None
    return None if ref.tag or ref.digest is not None else ref.name


def _search_entry(text: str) -> str:
    """An unqualified-search registry: ``host[:port]``, nothing more."""
    host = _trim(text)
    try:
        valid = Reference.parse(f"{host}/x").domain == host
    except InvalidArgument:
        valid = False
    if not valid:
        raise _Problem(f"invalid unqualified-search-registries entry {text!r}: want host[:port]")
    return host


def _trim(text: str) -> str:
    trimmed = text.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise _Problem(f"invalid location {text!r}: URI schemes are not supported")
    return trimmed


def _location(table: dict[str, Any], key: str, at: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise _Problem(f"{at}: {key} must be a string")
    return _trim(value)


def _bool(table: dict[str, Any], key: str, at: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise _Problem(f"{at}: {key} must be true or false")
    return value


def _strings(table: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """An array of strings, or ``None`` when the key is absent (an empty array still overrides)."""
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Problem(f"{key} must be an array of strings")
    return tuple(value)
