"""Which registries.conf files are read, in which order, and how they override each other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from berth.distribution.registries_conf import Endpoint
from berth.distribution.registries_files import Locations, load
from berth.errors import InvalidArgument


def _locations(tmp: Path, **changes: object) -> Locations:
    where = Locations(
        main=tmp / "etc/registries.conf",
        main_required=False,
        dropin_dirs=(tmp / "etc/registries.conf.d", tmp / "home/registries.conf.d"),
        alias_cache=tmp / "cache/short-name-aliases.conf",
        berth=tmp / "berth/registries.conf",
        berth_required=False,
    )
    return replace(where, **changes)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_for_host_follows_podman(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    default = Locations.for_host(environ=env, euid=0)
    assert default.main == Path("/etc/containers/registries.conf") and not default.main_required
    assert default.dropin_dirs == (
        Path("/etc/containers/registries.conf.d"),
        tmp_path / ".config/containers/registries.conf.d",
    )
    assert default.alias_cache == Path("/var/cache/containers/short-name-aliases.conf")
    assert default.berth == Path("/etc/berth/registries.conf") and not default.berth_required

    explicit = Locations.for_host(
        "own.conf", environ={**env, "CONTAINERS_REGISTRIES_CONF": "/x.conf", "BERTH_REGISTRIES_CONF": "b"}
    )
    assert explicit.main == Path("/x.conf") and explicit.main_required
    assert explicit.berth == Path("own.conf") and explicit.berth_required  # the flag beats the variable

    _write(tmp_path / ".config/containers/registries.conf", "")
    user = Locations.for_host(environ={**env, "XDG_CACHE_HOME": str(tmp_path / "c")}, euid=1000)
    assert user.main == tmp_path / ".config/containers/registries.conf"
    assert user.dropin_dirs == (tmp_path / ".config/containers/registries.conf.d",)
    assert user.alias_cache == tmp_path / "c/containers/short-name-aliases.conf"


def test_order_main_dropins_cache_then_berth(tmp_path: Path) -> None:
    where = _locations(tmp_path)
    _write(
        where.main,
        "unqualified-search-registries = ['main.example']\nshort-name-mode = 'enforcing'\n"
        "[[registry]]\nlocation = 'a.example'\n"
        "[aliases]\n'app' = 'main.example/app'\n'tool' = 'main.example/tool'\n",
    )
    system_dir, user_dir = where.dropin_dirs
    _write(system_dir / "20-b.conf", "unqualified-search-registries = ['twenty.example']\n")
    _write(system_dir / "10-a.conf", "unqualified-search-registries = ['ten.example']\n")
    _write(system_dir / "ignored.txt", "not toml at all [")
    (system_dir / "sub.conf").mkdir()
    _write(user_dir / "00-user.conf", "[[registry]]\nlocation = 'a.example'\ninsecure = true\n")
    _write(where.alias_cache, "[aliases]\n  'app' = 'cache.example/app'\n")
    _write(where.berth, "short-name-mode = 'disabled'\n[aliases]\n'tool' = 'berth.example/tool'\n")
    conf = load(where=where)
    assert conf.files == tuple(
        str(p)
        for p in (
            where.main,
            system_dir / "10-a.conf",
            system_dir / "20-b.conf",
            user_dir / "00-user.conf",
            where.alias_cache,
            where.berth,
        )
    )
    assert conf.search == ("twenty.example",) and conf.search_origin == str(system_dir / "20-b.conf")
    assert conf.pull_endpoints("a.example/x", False) == [(Endpoint("a.example", True), "x")]
    assert conf.aliases["app"].value == "cache.example/app"  # the cache beats the files
    assert conf.aliases["tool"].value == "berth.example/tool"  # Berth's file beats everything
    assert conf.mode == "disabled"


def test_nothing_there_is_an_empty_configuration(tmp_path: Path) -> None:
    conf = load(where=_locations(tmp_path))
    assert conf.files == () and conf.registries == () and conf.search is None


@pytest.mark.parametrize("which", ["main", "berth"])
def test_a_named_file_must_exist(tmp_path: Path, which: str) -> None:
    where = _locations(tmp_path, **{f"{which}_required": True})
    with pytest.raises(InvalidArgument, match=f"registries config {getattr(where, which)} does not exist"):
        load(where=where)


def test_errors_name_the_file(tmp_path: Path) -> None:
    where = _locations(tmp_path)
    _write(where.main, "[registries.search]\nregistries = ['v1.example']\n")  # v1 is fine in the main file
    assert load(where=where).search == ("v1.example",)
    bad = _write(where.dropin_dirs[0] / "v1.conf", "[registries.search]\nregistries = ['v1.example']\n")
    with pytest.raises(InvalidArgument, match=f"^{bad}: a drop-in file must use the v2 format"):
        load(where=where)
    bad.write_text("short-name-mode = 'sometimes'\n")
    with pytest.raises(InvalidArgument, match=f"^{bad}: short-name-mode must be one of"):
        load(where=where)


def test_only_the_alias_caches_aliases_count(tmp_path: Path) -> None:
    where = _locations(tmp_path)
    _write(
        where.alias_cache, "unqualified-search-registries = ['x.example']\n[aliases]\n'a' = 'c.example/a'\n"
    )
    conf = load(where=where)
    assert conf.search is None and conf.aliases["a"].value == "c.example/a"
