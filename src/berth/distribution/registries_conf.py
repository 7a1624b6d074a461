"""Per-registry settings: mirrors, insecure and blocked registries (containers-registries.conf(5)).

The file is TOML in the v2 format of ``registries.conf``::

    [[registry]]
    prefix = "docker.io/library"        # which references this entry applies to
    location = "registry.internal/hub"  # where they are really fetched (defaults to prefix)
    insecure = true                     # HTTP, or HTTPS without certificate checks
    blocked = false
    pull-from-mirror = "all"            # or "digest-only" / "tag-only"
    [[registry.mirror]]
    location = "mirror.internal/hub"
    insecure = true

The longest matching ``prefix`` wins. Mirrors are tried in order before the location, for pulls only.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from berth.errors import InvalidArgument

DEFAULT_PATH = Path("/etc/berth/registries.conf")
_PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


@dataclass(frozen=True)
class Endpoint:
    """Where to reach a repository: ``host[:port][/path-prefix]`` and whether it is insecure."""

    location: str
    insecure: bool = False


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Endpoint, ...] = ()
    pull_from_mirror: str = "all"


@dataclass(frozen=True)
class RegistriesConf:
    """The parsed file."""

    registries: tuple[RegistryEntry, ...] = field(default_factory=tuple)

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix matches ``name`` (``host/repository``) most specifically."""
        best: RegistryEntry | None = None
        for entry in self.registries:
            p = entry.prefix
            if (name == p or name.startswith(p + "/") or name.startswith(p + ":")) and (
                best is None or len(p) > len(best.prefix)
            ):
                best = entry
        return best

    def pull_endpoints(self, name: str, by_digest: bool) -> list[tuple[Endpoint, str]]:
        """``(endpoint, repository-at-that-endpoint)`` pairs to try for a pull, in order."""
        return self._endpoints(name, mirrors=True, by_digest=by_digest)

    def push_endpoint(self, name: str) -> tuple[Endpoint, str]:
        """Where a push of ``name`` goes (mirrors are never pushed to)."""
        return self._endpoints(name, mirrors=False, by_digest=False)[0]

    def _endpoints(self, name: str, mirrors: bool, by_digest: bool) -> list[tuple[Endpoint, str]]:
        entry = self.find(name)
        if entry is None:
            host, _, repo = name.partition("/")
            return [(Endpoint(host), repo)]
        if entry.blocked:
            raise InvalidArgument(f"registry for {name} is blocked in registries.conf")
        suffix = name[len(entry.prefix) :]
        locations: list[Endpoint] = []
        policy = entry.pull_from_mirror
        if mirrors and (policy == "all" or (policy == "digest-only") == by_digest):
            locations += entry.mirrors
        locations.append(Endpoint(entry.location, entry.insecure))
        result = []
        for endpoint in locations:
            host, _, base = (endpoint.location + suffix).partition("/")
            result.append((Endpoint(host, endpoint.insecure), base))
        return result

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` is marked insecure as a location or a mirror anywhere in the file."""
        for entry in self.registries:
            if entry.location.split("/", 1)[0] == host and entry.insecure:
                return True
            if any(m.location.split("/", 1)[0] == host and m.insecure for m in entry.mirrors):
                return True
        return False


def _bool(table: dict[str, object], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{where}: {key} must be true or false")
    return value


def _string(table: dict[str, object], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{where}: {key} must be a non-empty string")
    return value.rstrip("/")


def parse(text: str, where: str = "registries.conf") -> RegistriesConf:
    """Parse the file's text; ``InvalidArgument`` naming the first problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgument(f"{where}: {err}") from None
    tables = doc.get("registry", [])
    if not isinstance(tables, list):
        raise InvalidArgument(f"{where}: 'registry' must be an array of tables ([[registry]])")
    entries = []
    for i, table in enumerate(tables):
        at = f"{where}: registry #{i + 1}"
        if not isinstance(table, dict):
            raise InvalidArgument(f"{at} is not a table")
        location = _string(table, "location", at, str(table.get("prefix") or ""))
        prefix = _string(table, "prefix", at, location)
        policy = table.get("pull-from-mirror", "all")
        if policy not in _PULL_FROM_MIRROR:
            raise InvalidArgument(f"{at}: pull-from-mirror must be one of {', '.join(_PULL_FROM_MIRROR)}")
        mirrors = []
        for j, mirror in enumerate(table.get("mirror", [])):
            mat = f"{at} mirror #{j + 1}"
            if not isinstance(mirror, dict):
                raise InvalidArgument(f"{mat} is not a table")
            mirrors.append(Endpoint(_string(mirror, "location", mat), _bool(mirror, "insecure", mat)))
        entries.append(
            RegistryEntry(
                prefix=prefix,
                location=location,
                insecure=_bool(table, "insecure", at),
                blocked=_bool(table, "blocked", at),
                mirrors=tuple(mirrors),
                pull_from_mirror=str(policy),
            )
        )
    return RegistriesConf(tuple(entries))


def load(path: str | os.PathLike[str] | None = None) -> RegistriesConf:
    """Read the file at ``path`` (default ``$BERTH_REGISTRIES_CONF`` or /etc/berth/registries.conf).

    A missing default file means no settings; a missing explicit file is an error.
    """
    explicit = path or os.environ.get("BERTH_REGISTRIES_CONF")
    target = Path(explicit) if explicit else DEFAULT_PATH
    try:
        text = target.read_text()
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(f"registries config {target} does not exist") from None
        return RegistriesConf()
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"cannot read registries config {target}: {err}") from None
    return parse(text, str(target))
