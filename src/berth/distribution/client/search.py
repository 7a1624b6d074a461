"""Image search across registries, as ``docker search`` and ``podman search`` do.

A registry that answers Docker's v1 search endpoint (``GET /v1/search?q=TERM&n=LIMIT``, Docker
Hub's at ``index.docker.io``) is asked there: its results carry descriptions, stars and the
official mark. Any other (the OCI distribution spec has no search) is searched as podman does:
its ``GET /v2/_catalog`` (distribution-spec's listing extension, which Docker's registry and
Berth's serve), filtered to the repository names containing the term.

The registries searched: the one a term names (``HOST/TERM``, where ``HOST`` has a dot or a colon
or is ``localhost``, Docker's rule for a registry in a name), else registries.conf's
``unqualified-search-registries``, else Docker Hub. The results of the registries that answered
are returned; when there are none and a registry failed, its failure is raised (an empty answer
means nothing found only if every registry could tell).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from berth.distribution.client.errors import RegistryError
from berth.distribution.client.registry import DOCKER_HUB
from berth.distribution.registries_conf import Endpoint, RegistriesConf
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.distribution.client.session import RegistryClient

#: Where Docker Hub answers the v1 search.
DOCKER_HUB_INDEX = "index.docker.io"
#: Docker's bounds of ``limit`` (dockerd refuses others).
MAX_LIMIT = 100
DEFAULT_LIMIT = 25


@dataclass(frozen=True)
class SearchResult:
    """One repository found (Docker's ``ImageSearchResponseItem`` fields)."""

    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False


@dataclass(frozen=True)
class SearchFilters:
    """``--filter``: ``stars=N`` (at least N), ``is-official=BOOL``, ``is-automated=BOOL``."""

    stars: int = 0
    is_official: bool | None = None
    is_automated: bool | None = None

    @classmethod
    def parse(cls, texts: list[str]) -> SearchFilters:
        """From ``KEY=VALUE`` texts; an unknown key or a bad value is ``InvalidArgument``."""
        stars = 0
        marks: dict[str, bool | None] = {"is-official": None, "is-automated": None}
        for text in texts:
            key, eq, value = text.partition("=")
            if not eq:
                raise InvalidArgument(f"invalid search filter {text!r}: want KEY=VALUE")
            if key == "stars":
                if not value.isdigit():
                    raise InvalidArgument(f"invalid search filter {text!r}: stars takes a number")
                stars = int(value)
            elif key in marks:
                if value not in ("true", "false"):
                    raise InvalidArgument(f"invalid search filter {text!r}: {key} takes true or false")
                marks[key] = value == "true"
            else:
                raise InvalidArgument(
                    f"invalid search filter {key!r}: Berth filters by stars, is-official, is-automated"
                )
        return cls(stars, marks["is-official"], marks["is-automated"])

    def keeps(self, result: SearchResult) -> bool:
        """Whether ``result`` passes every filter."""
        return (
            result.star_count >= self.stars
            and self.is_official in (None, result.is_official)
            and self.is_automated in (None, result.is_automated)
        )


def split_term(term: str) -> tuple[str, str]:
    """``(registry, term)``: the registry a term names (``""`` for none) and what to look for."""
    first, slash, rest = term.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", term


def search(
    term: str,
    conf: RegistriesConf,
    *,
    limit: int = DEFAULT_LIMIT,
    filters: SearchFilters | None = None,
    tls_verify: bool | None = None,
    insecure: Callable[[str], bool] = lambda host: False,
) -> list[SearchResult]:
    """Search the registries for ``term`` (see the module docstring): at most ``limit`` results
    from each, those ``filters`` keep. ``insecure(host)``: whether a host may be plain HTTP
    (besides those registries.conf names)."""
    if not term:
        raise InvalidArgument("no search term given")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit {limit} is outside the range of [1, {MAX_LIMIT}]")
    registry, what = split_term(term)
    hosts = [registry] if registry else list(conf.search or (DOCKER_HUB,))
    found = asyncio.run(_search_all(hosts, what, limit, conf, tls_verify, insecure))
    keep = filters or SearchFilters()
    return [r for r in found if keep.keeps(r)]


async def _search_all(
    hosts: list[str],
    term: str,
    limit: int,
    conf: RegistriesConf,
    tls_verify: bool | None,
    insecure: Callable[[str], bool],
) -> list[SearchResult]:
    from berth.distribution.client.session import RegistryClient

    async with RegistryClient(tls_verify=tls_verify, registries_conf=conf) as client:
        answers = await asyncio.gather(
            *(_search_one(client, Endpoint(host, insecure(host)), term, limit) for host in hosts),
            return_exceptions=True,
        )
    results: list[SearchResult] = []
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, RegistryError):
            raise answer
        if not isinstance(answer, BaseException):
            results += answer
    failures = [a for a in answers if isinstance(a, RegistryError)]
    if failures and not results:
        raise failures[0]  # "nothing found" only when every registry could tell
    return results


async def _search_one(client: RegistryClient, where: Endpoint, term: str, limit: int) -> list[SearchResult]:
    from berth.distribution.client.registry import connection_errors

    host = where.location
    reg = client.registry(Endpoint(DOCKER_HUB_INDEX, where.insecure) if host == DOCKER_HUB else where)
    creds = client.lookup_credentials(host, "")
    params = [("q", term), ("n", str(limit))]
    try:
        # Docker's v1 search is no part of /v2/: Docker Hub's index answers it, not its registry host.
        answer = await reg.send("GET", "/v1/search", creds=creds, scopes=(), params=params)
        if answer.status == 200:
            return _v1_results(answer.body, host, limit)
        listing = await reg.request(
            "GET", "/v2/_catalog", creds=creds, scopes=("registry:catalog:*",), what="the catalog"
        )
    except connection_errors() as err:
        raise RegistryError(f"cannot reach registry {host}: {err}") from None
    names = json.loads(listing.body or b"{}").get("repositories") or []
    return [SearchResult(f"{host}/{name}") for name in names if term in name][:limit]


def _v1_results(body: bytes, host: str, limit: int) -> list[SearchResult]:
    try:
        found = json.loads(body).get("results") or []
    except (ValueError, AttributeError):
        raise RegistryError(f"{host}: the search answer is not JSON") from None
    # Docker Hub's names are shown as dockerd shows them (``alpine``); others' with their host.
    prefix = "" if host == DOCKER_HUB else f"{host}/"
    return [
        SearchResult(
            name=prefix + str(item.get("name", "")),
            description=str(item.get("description") or ""),
            star_count=int(item.get("star_count") or 0),
            is_official=bool(item.get("is_official")),
            is_automated=bool(item.get("is_automated")),
        )
        for item in found
        if isinstance(item, dict)
    ][:limit]
