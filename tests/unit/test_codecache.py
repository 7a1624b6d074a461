"""berth.codecache: modules served from one cache file, checked against their sources.

Each scenario runs a fresh interpreter, since a module is imported once per process: the child
installs the cache for a throwaway package, imports it, saves, and reports who loaded each module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from berth import codecache
from berth.runtime import cli as runtime_cli

_CHILD = textwrap.dedent("""
    import json, sys
    from berth.codecache import CodeCache

    cache = CodeCache(sys.argv[1], "cachepkg")
    cache.install()
    import cachepkg.a, cachepkg.sub.b
    cache.save()
    out = {}
    for name in ("cachepkg", "cachepkg.a", "cachepkg.sub", "cachepkg.sub.b"):
        module = sys.modules[name]
        out[name] = {"cached": module.__loader__ is cache, "file": module.__file__,
                     "value": getattr(module, "VALUE", None),
                     "path": list(getattr(module, "__path__", []))}
    print(json.dumps(out))
""")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package ``cachepkg`` (with a subpackage) under ``tmp_path/lib``."""
    root = tmp_path / "lib" / "cachepkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("VALUE = 'pkg'\n")
    (root / "a.py").write_text("VALUE = 'a1'\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "b.py").write_text("from cachepkg.a import VALUE as A\nVALUE = A + '-b'\n")
    return root


def _import(package: Path, cache: Path) -> dict[str, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(package.parent), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cache)], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


def test_second_start_is_served_from_the_cache(package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "code.marshal"
    first = _import(package, cache)
    assert not any(m["cached"] for m in first.values())
    assert cache.stat().st_mode & 0o777 == 0o600
    second = _import(package, cache)
    assert all(m["cached"] for m in second.values())
    assert second == {name: dict(m, cached=True) for name, m in first.items()}
    assert second["cachepkg.sub.b"]["value"] == "a1-b"
    assert second["cachepkg.a"]["file"] == str(package / "a.py")
    assert second["cachepkg.sub"]["path"] == [str(package / "sub")]


_STDLIB_CHILD = textwrap.dedent("""
    import json, sys
    from berth.codecache import CodeCache

    cache = CodeCache(sys.argv[1], "cachepkg", stdlib=True)
    cache.install()
    import colorsys, bisect, cachepkg.a
    cache.save()
    print(json.dumps({name: sys.modules[name].__loader__ is cache
                      for name in ("colorsys", "bisect", "_bisect", "cachepkg.a")}))
""")


def test_with_stdlib_the_standard_librarys_source_modules_are_cached_too(
    package: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "code.marshal"
    env = dict(os.environ, PYTHONPATH=str(package.parent))

    def served() -> dict[str, bool]:
        done = subprocess.run(
            [sys.executable, "-c", _STDLIB_CHILD, str(cache)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, bool] = json.loads(done.stdout)
        return result

    assert served() == dict.fromkeys(("colorsys", "bisect", "_bisect", "cachepkg.a"), False)
    # The pure-Python modules now come from the cache; the C extension (_bisect) still from its own
    # loader, and the modules of the interpreter's start (json, imported before the cache) never.
    assert served() == {"colorsys": True, "bisect": True, "_bisect": False, "cachepkg.a": True}
    reader = codecache.CodeCache(str(cache), "cachepkg")
    os.close(reader.fd)
    assert {"colorsys", "bisect", "cachepkg.a"} <= set(reader.entries)
    assert "_bisect" not in reader.entries and "json" not in reader.entries


def test_a_changed_source_is_imported_again_and_recached(package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "code.marshal"
    _import(package, cache)
    (package / "a.py").write_text("VALUE = 'a2, changed'\n")
    changed = _import(package, cache)
    assert not changed["cachepkg.a"]["cached"] and changed["cachepkg.sub"]["cached"]
    assert changed["cachepkg.sub.b"]["value"] == "a2, changed-b"
    again = _import(package, cache)
    assert all(m["cached"] for m in again.values())
    assert again["cachepkg.a"]["value"] == "a2, changed"


def test_a_deleted_source_is_not_served(package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "code.marshal"
    _import(package, cache)
    (package / "a.py").unlink()
    env = dict(os.environ, PYTHONPATH=str(package.parent))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(cache)], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "No module named 'cachepkg.a'" in done.stderr


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\xff" * 8 + b"x", b"\x03\x00\x00\x00\x00\x00\x00\x00N"]
)
def test_a_corrupt_cache_is_ignored_and_rewritten(package: Path, tmp_path: Path, content: bytes) -> None:
    cache = tmp_path / "code.marshal"
    cache.write_bytes(content)
    cache.chmod(0o600)
    assert not any(m["cached"] for m in _import(package, cache).values())
    assert all(m["cached"] for m in _import(package, cache).values())


def test_a_cache_others_may_write_is_ignored(package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "code.marshal"
    _import(package, cache)
    cache.chmod(0o666)
    assert not any(m["cached"] for m in _import(package, cache).values())


def test_an_unwritable_cache_location_only_disables_the_cache(package: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cache = tmp_path / "file" / "code.marshal"  # its directory is a regular file
    assert not any(m["cached"] for m in _import(package, cache).values())
    assert not any(m["cached"] for m in _import(package, cache).values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "lib"]


def test_the_runtime_fills_its_cache(tmp_path: Path) -> None:
    runtime = Path(sys.executable).with_name("berth-runtime")
    subprocess.run([str(runtime), "--root", str(tmp_path), "list"], check=True, capture_output=True)
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(runtime_cli.__file__)))
    cache = codecache.CodeCache(codecache.default_path(runtime_cli.CACHE_DIR, package_dir), "berth")
    try:
        assert {"berth.runtime.commands", "berth.runtime.verbs.list"} <= set(cache.entries)
    finally:
        if cache.fd >= 0:
            os.close(cache.fd)


def test_berth_fills_its_own_cache(tmp_path: Path) -> None:
    from berth.cli import launch as berth_cli

    berth = Path(sys.executable).with_name("berth")
    env = {**os.environ, "BERTH_ROOT": str(tmp_path / "root"), "BERTH_RUNROOT": str(tmp_path / "run")}
    subprocess.run([str(berth), "ps", "-a"], check=True, capture_output=True, env=env)
    package_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(berth_cli.__file__))))
    cache = codecache.CodeCache(codecache.default_path(berth_cli.CACHE_DIR, package_dir), "berth")
    try:
        assert {"berth.cli.containers", "berth.engine.metadata"} <= set(cache.entries)
        assert not any(name.startswith("berth.runtime.verbs") for name in cache.entries)
    finally:
        if cache.fd >= 0:
            os.close(cache.fd)
