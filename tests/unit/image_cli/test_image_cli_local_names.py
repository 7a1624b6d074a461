"""Names of images made here (import, commit, tag) and how short names are looked up, as podman 4.3
does (checked against podman on this host: ``podman import x.tar mine:1`` lists ``localhost/mine:1``)."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.image.catalog import local_name, lookup_names


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("mine:1", "localhost/mine:1"),
        ("mine", "localhost/mine:latest"),
        ("a/b:4", "localhost/a/b:4"),  # Docker would say docker.io/a/b:4
        ("localhost/x:2", "localhost/x:2"),
        ("docker.io/foo:3", "docker.io/library/foo:3"),
        ("quay.io/x/y", "quay.io/x/y:latest"),
        ("registry:5000/z", "registry:5000/z:latest"),
    ],
)
def test_local_name_follows_podman(given: str, stored: str) -> None:
    assert local_name(given) == stored


def test_short_names_look_here_first_then_where_pull_would() -> None:
    assert lookup_names("mine:1") == ["localhost/mine:1", "docker.io/library/mine:1"]
    assert lookup_names("quay.io/x/y:1") == ["quay.io/x/y:1"]
    assert lookup_names("localhost/x") == ["localhost/x:latest"]


@pytest.mark.parametrize("bad", ["Mine:1:2", "", "a b"])
def test_bad_names_are_refused_in_the_users_words(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid reference"):
        local_name(bad)
