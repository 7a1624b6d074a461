"""Image search: the terms, the filters, and a registry answering Docker's v1 search."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from berth.distribution.client.search import SearchFilters, SearchResult, search, split_term
from berth.distribution.registries_conf import RegistriesConf
from berth.errors import InvalidArgument

_INDEX = [
    {"name": "alpine", "description": "A minimal image", "star_count": 10, "is_official": True},
    {"name": "someone/alpine-tools", "description": "tools", "star_count": 2, "is_automated": True},
    {"name": "someone/alpine-old", "description": None, "star_count": 0},
]


class _V1Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/v2/":
            body = b"{}"
        elif url.path == "/v1/search":
            query = parse_qs(url.query)
            results = [r for r in _INDEX if query["q"][0] in str(r["name"])][: int(query["n"][0])]
            body = json.dumps({"query": query["q"][0], "results": results}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _V1Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_registry_in_the_term_is_one_with_a_dot_a_colon_or_localhost() -> None:
    assert split_term("alpine") == ("", "alpine")
    assert split_term("library/alpine") == ("", "library/alpine")
    assert split_term("quay.io/libpod/alpine") == ("quay.io", "libpod/alpine")
    assert split_term("127.0.0.1:5000/x") == ("127.0.0.1:5000", "x")
    assert split_term("localhost/x") == ("localhost", "x")


def test_filters_parse_and_keep() -> None:
    filters = SearchFilters.parse(["stars=3", "is-official=true"])
    assert filters == SearchFilters(3, True, None)
    assert filters.keeps(SearchResult("a", star_count=3, is_official=True))
    assert not filters.keeps(SearchResult("a", star_count=2, is_official=True))
    assert not filters.keeps(SearchResult("a", star_count=9))
    for bad in (["stars=many"], ["is-official=yes"], ["size=1"], ["stars"]):
        with pytest.raises(InvalidArgument):
            SearchFilters.parse(bad)


def test_a_v1_search_answer_with_limit_and_filters(index: str) -> None:
    def names(term: str, **kw: object) -> list[str]:
        found = search(f"{index}/{term}", RegistriesConf(), tls_verify=False, **kw)  # type: ignore[arg-type]
        return [r.name for r in found]

    assert names("alpine") == [
        f"{index}/alpine",
        f"{index}/someone/alpine-tools",
        f"{index}/someone/alpine-old",
    ]
    assert names("alpine", limit=1) == [f"{index}/alpine"]
    assert names("alpine", filters=SearchFilters(stars=1)) == [
        f"{index}/alpine",
        f"{index}/someone/alpine-tools",
    ]
    assert names("alpine", filters=SearchFilters(is_automated=True)) == [f"{index}/someone/alpine-tools"]
    (first,) = search(f"{index}/alpine", RegistriesConf(), limit=1, tls_verify=False)
    assert first == SearchResult(f"{index}/alpine", "A minimal image", 10, is_official=True)
    with pytest.raises(InvalidArgument, match="outside the range"):
        search("alpine", RegistriesConf(), limit=0)


def test_an_empty_answer_only_when_every_registry_could_tell(index: str) -> None:
    from berth.distribution.client.errors import RegistryError
    from berth.distribution.registries_conf import parse

    both = parse(f'unqualified-search-registries = ["{index}", "127.0.0.1:1"]')
    assert [r.name for r in search("tools", both, tls_verify=False)] == [f"{index}/someone/alpine-tools"]
    with pytest.raises(RegistryError, match=r"127\.0\.0\.1:1"):
        search("nothing-like-it", both, tls_verify=False)
    assert (
        search("nothing-like-it", parse(f'unqualified-search-registries = ["{index}"]'), tls_verify=False)
        == []
    )
