"""Short-name resolution: aliases, search registries, short-name modes, the prompt and its record."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from berth.distribution import registries_conf, shortnames
from berth.distribution.registries_conf import RegistriesConf
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.spec.reference import Reference


def _conf(search: Sequence[str] | None, mode: str = "", aliases: str = "") -> RegistriesConf:
    text = f"short-name-mode = '{mode}'\n"
    if search is not None:
        text += f"unqualified-search-registries = {list(search)!r}\n"
    return registries_conf.parse(text + "[aliases]\n" + aliases, "r.conf")


def _names(resolution: shortnames.Resolution) -> list[str]:
    return [str(ref) for ref in resolution.candidates]


def test_a_qualified_name_means_itself() -> None:
    conf = _conf(["a.example", "b.example"], "enforcing")
    for text in ("quay.io/x", "localhost/x:1", "host:5000/x", "docker.io/alpine"):
        assert _names(shortnames.resolve(text, conf, interactive=False)) == [str(Reference.parse(text))]


def test_an_alias_wins_and_keeps_the_tag_or_digest() -> None:
    conf = _conf(["a.example", "b.example"], "enforcing", "'app' = 'reg.example/team/app'\n")
    resolved = shortnames.resolve("app", conf, interactive=False)
    assert _names(resolved) == ["reg.example/team/app:latest"]
    assert resolved.description == 'Resolved "app" as an alias (r.conf)'
    assert _names(shortnames.resolve("app:2", conf)) == ["reg.example/team/app:2"]
    digest = "sha256:" + "a" * 64
    assert _names(shortnames.resolve(f"app@{digest}", conf)) == [f"reg.example/team/app@{digest}"]


def test_an_erased_alias_falls_back_to_the_search_registries() -> None:
    conf = _conf(["a.example"], aliases="'app' = 'reg.example/app'\n").merged(
        registries_conf.parse("[aliases]\n'app' = ''\n", "d.conf")
    )
    assert _names(shortnames.resolve("app", conf, interactive=False)) == ["a.example/app:latest"]


def test_search_registries_by_mode_and_terminal() -> None:
    one = _conf(["a.example"], "enforcing")
    assert _names(shortnames.resolve("x", one, interactive=False)) == ["a.example/x:latest"]
    both = ["a.example/library/x:1", "b.example:5000/library/x:1"]
    for mode in ("disabled", "permissive"):
        conf = _conf(["a.example", "b.example:5000"], mode)
        assert _names(shortnames.resolve("library/x:1", conf, interactive=False)) == both
    enforcing = _conf(["a.example", "b.example:5000"], "enforcing")
    with pytest.raises(InvalidArgument, match=r"short name 'x' is ambiguous \(a.example/x:latest, ") as err:
        shortnames.resolve("x", enforcing, interactive=False)
    assert "short-name-mode is enforcing (r.conf)" in str(err.value) and "\n" not in str(err.value)


def test_on_a_terminal_the_user_chooses_and_the_choice_is_to_be_recorded() -> None:
    offered: list[str] = []

    def choose(candidates: Sequence[Reference]) -> Reference:
        offered.extend(map(str, candidates))
        return candidates[1]

    for mode in ("enforcing", "permissive"):
        offered.clear()
        conf = _conf(["a.example", "b.example"], mode)
        resolved = shortnames.resolve("x:2", conf, interactive=True, choose=choose)
        assert offered == ["a.example/x:2", "b.example/x:2"]
        assert _names(resolved) == ["b.example/x:2"] and resolved.record_as == "x"
    disabled = shortnames.resolve(
        "x", _conf(["a.example", "b.example"], "disabled"), interactive=True, choose=choose
    )
    assert len(disabled.candidates) == 2 and disabled.record_as is None


def test_no_search_registries() -> None:
    with pytest.raises(InvalidArgument, match=r"no unqualified-search registries are defined in r\.conf"):
        shortnames.resolve("x", _conf([]), interactive=False)
    # a host with no registries configuration at all keeps Docker's rule
    assert _names(shortnames.resolve("x", RegistriesConf(), interactive=False)) == [
        "docker.io/library/x:latest"
    ]


def test_local_names_in_podmans_order() -> None:
    conf = _conf(["a.example"], aliases="'app' = 'reg.example/app'\n")
    assert shortnames.local_names("app:1", lambda: conf) == [
        "reg.example/app:1",
        "localhost/app:1",
        "a.example/app:1",
    ]
    assert shortnames.local_names("x", RegistriesConf) == ["localhost/x:latest", "docker.io/library/x:latest"]

    def unread() -> RegistriesConf:
        raise AssertionError("a qualified name needs no configuration")

    assert shortnames.local_names("quay.io/x", unread) == ["quay.io/x:latest"]


def test_pull_first_tries_in_order_and_records_a_choice(tmp_path: Path) -> None:
    cache = tmp_path / "cache/short-name-aliases.conf"
    tried: list[str] = []

    def attempt(ref: Reference) -> str:
        tried.append(str(ref))
        if ref.domain == "a.example":
            raise NotFound("manifest unknown")
        return "ok"

    candidates = (Reference.parse("a.example/x"), Reference.parse("b.example/x"))
    ref, result = shortnames.pull_first(shortnames.Resolution(candidates, record_as="x"), attempt, cache)
    assert (str(ref), result, tried) == (
        "b.example/x:latest",
        "ok",
        ["a.example/x:latest", "b.example/x:latest"],
    )
    assert cache.read_text() == '[aliases]\n  "x" = "b.example/x"\n'
    assert os.stat(cache).st_mode & 0o777 == 0o600
    shortnames.record_alias(cache, "library/y", "c.example/y")
    assert 'x" = "b.example/x"' in cache.read_text() and '"library/y" = "c.example/y"' in cache.read_text()
    with pytest.raises(
        BerthError, match=r"^2 candidates failed: a.example/x:latest: manifest unknown; b\."
    ) as err:
        shortnames.pull_first(
            shortnames.Resolution(candidates), lambda r: attempt(Reference.parse("a.example/x")), cache
        )
    assert "\n" not in str(err.value)


def test_ask_reads_a_number(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    candidates = [Reference.parse("a.example/x"), Reference.parse("b.example/x")]
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))
    assert shortnames.ask(candidates) == candidates[1]
    assert "2) b.example/x:latest" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("3\n"))
    with pytest.raises(InvalidArgument, match="want a number from 1 to 2"):
        shortnames.ask(candidates)
