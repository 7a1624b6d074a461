"""berth.tomlcache: a TOML file's document kept beside its exact bytes, parsed again when they change."""

from __future__ import annotations

import datetime
import os
import string
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth import tomlcache

DOC = b'[storage]\nroot = "/srv/berth"\n[engine.runtimes]\nmine = "/usr/bin/mine"\nlevels = [1, 2.5, true]\n'


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.iterdir()) if cache_dir.exists() else []


def test_a_document_is_kept_and_served_from_the_cache(tmp_path: Path) -> None:
    conf, cache_dir = tmp_path / "berth.toml", tmp_path / "cache"
    conf.write_bytes(DOC)
    first = tomlcache.load(conf, str(cache_dir))
    assert first == tomllib.loads(DOC.decode())
    [kept] = _cache_files(cache_dir)
    assert kept.stat().st_mode & 0o777 == 0o600 and cache_dir.stat().st_mode & 0o777 == 0o700
    # Served from the cache: an entry made to differ from the parse proves where the answer came from.
    tomlcache._write(str(cache_dir), str(kept), DOC, {"from": "cache"})
    assert tomlcache.load(conf, str(cache_dir)) == {"from": "cache"}


def test_a_changed_file_is_parsed_again_even_with_the_same_size_and_times(tmp_path: Path) -> None:
    conf, cache_dir = tmp_path / "berth.toml", tmp_path / "cache"
    conf.write_bytes(b'a = "x"\n')
    assert tomlcache.load(conf, str(cache_dir)) == {"a": "x"}
    st = conf.stat()
    conf.write_bytes(b'a = "y"\n')
    os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tomlcache.load(conf, str(cache_dir)) == {"a": "y"}
    assert tomlcache.load(conf, str(cache_dir)) == {"a": "y"}


def test_date_times_are_parsed_every_time_and_never_kept(tmp_path: Path) -> None:
    conf, cache_dir = tmp_path / "dates.toml", tmp_path / "cache"
    conf.write_bytes(b"when = 2026-12-07T04:00:00Z\n")
    expected = {"when": datetime.datetime(2026, 12, 7, 4, 0, tzinfo=datetime.UTC)}
    assert tomlcache.load(conf, str(cache_dir)) == expected
    assert tomlcache.load(conf, str(cache_dir)) == expected
    assert _cache_files(cache_dir) == []


def test_errors_pass_through_and_nothing_is_kept(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(FileNotFoundError):
        tomlcache.load(tmp_path / "absent.toml", str(cache_dir))
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"key = = 1\n")
    with pytest.raises(tomllib.TOMLDecodeError):
        tomlcache.load(bad, str(cache_dir))
    bad.write_bytes(b'key = "\xff"\n')
    with pytest.raises(UnicodeDecodeError):
        tomlcache.load(bad, str(cache_dir))
    assert _cache_files(cache_dir) == []


def test_an_unsafe_or_damaged_cache_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    conf, cache_dir = tmp_path / "berth.toml", tmp_path / "cache"
    conf.write_bytes(DOC)
    tomlcache.load(conf, str(cache_dir))
    [kept] = _cache_files(cache_dir)
    tomlcache._write(str(cache_dir), str(kept), DOC, {"from": "cache"})
    kept.chmod(0o666)  # writable by others: not trusted
    assert tomlcache.load(conf, str(cache_dir)) == tomllib.loads(DOC.decode())
    kept.write_bytes(b"\x00not marshal")
    kept.chmod(0o600)
    assert tomlcache.load(conf, str(cache_dir)) == tomllib.loads(DOC.decode())
    assert tomlcache._read(str(kept)) is not None  # the parse replaced the damaged entry


def test_without_a_writable_cache_directory_files_are_still_parsed(tmp_path: Path) -> None:
    conf = tmp_path / "berth.toml"
    conf.write_bytes(DOC)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    assert tomlcache.load(conf, str(blocker / "cache")) == tomllib.loads(DOC.decode())


def test_paths_map_to_distinct_cache_files_that_name_their_source() -> None:
    paths = ["/a/b%c", "/a%b/c", "/a%/b", "/a/%b", "/a%2Fb", "/a/b", "/a%25b"]
    names = [os.path.basename(tomlcache._cache_file("/c", p)) for p in paths]
    assert len(set(names)) == len(paths)
    assert [tomlcache._source(n) for n in names] == paths
    assert tomlcache._cache_file("/c", "/" + "x" * 300) == ""


def test_entries_of_removed_files_are_pruned_on_a_miss(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    gone, kept = tmp_path / "gone.toml", tmp_path / "kept.toml"
    for conf in (gone, kept):
        conf.write_bytes(DOC)
        tomlcache.load(conf, str(cache_dir))
    gone.unlink()
    assert len(_cache_files(cache_dir)) == 2
    kept.write_bytes(b"changed = 1\n")  # a miss
    assert tomlcache.load(kept, str(cache_dir)) == {"changed": 1}
    assert [tomlcache._source(p.name) for p in _cache_files(cache_dir)] == [str(kept)]


_keys = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
)
_documents = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
        max_leaves=10,
    ),
    max_size=6,
)


def _toml(document: dict[str, object]) -> str:
    """``document`` as TOML inline values (enough for the round trip below)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            escaped = (c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in v)
            return '"' + "".join(escaped) + '"'
        if isinstance(v, float):
            return {float("inf"): "inf", float("-inf"): "-inf"}.get(v, repr(v))
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        return str(v)

    return "".join(f'"{k}" = {value(v)}\n' for k, v in document.items())


@settings(max_examples=60, deadline=None)
@given(_documents)
def test_any_plain_document_reads_back_the_same_from_the_cache(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, object]
) -> None:
    work = tmp_path_factory.mktemp("doc")
    conf, cache_dir = work / "doc.toml", work / "cache"
    conf.write_text(_toml(document))
    parsed = tomllib.loads(conf.read_text())
    assert tomlcache.load(conf, str(cache_dir)) == parsed
    assert tomlcache.load(conf, str(cache_dir)) == parsed
    assert len(_cache_files(cache_dir)) == 1
