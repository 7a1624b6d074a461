"""The compiled-program cache: hits return the same program; untrusted or damaged entries are ignored."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.runtime import jsontext
from berth.runtime.linux import seccomp, seccomp_cache
from berth.runtime.linux.seccomp import CompiledFilter
from berth.runtime.process import SECCOMP_CACHE, SeccompProgram, compile_seccomp

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
}


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count real compilations."""
    calls: list[int] = []
    real = seccomp.compile_filter

    def counting(profile: Any) -> CompiledFilter:
        calls.append(1)
        return real(profile)

    monkeypatch.setattr(seccomp, "compile_filter", counting)
    return calls


def _uncached(profile: dict[str, Any]) -> SeccompProgram:
    compiled = seccomp.compile_filter(profile)
    return SeccompProgram(compiled.program, compiled.flags)


def test_second_compile_of_a_profile_is_read_from_the_cache(tmp_path: Path, compiles: list[int]) -> None:
    first = compile_seccomp(PROFILE, str(tmp_path))
    second = compile_seccomp(
        dict(reversed(list(PROFILE.items()))), str(tmp_path)
    )  # key order does not matter
    assert first == second == _uncached(PROFILE)
    assert first is not None and first.flags == 2
    assert len(compiles) == 2  # the first cached call and the uncached one
    assert oct((tmp_path / SECCOMP_CACHE).stat().st_mode & 0o777) == "0o700"


def test_a_hit_imports_neither_ctypes_nor_libseccomps_bindings(tmp_path: Path) -> None:
    compile_seccomp(PROFILE, str(tmp_path))
    code = (
        "import sys, json\n"
        "from berth.runtime.process import compile_seccomp\n"
        f"assert compile_seccomp(json.loads({json.dumps(json.dumps(PROFILE))}), {str(tmp_path)!r})\n"
        "print(sorted(m for m in ('ctypes', 'berth.runtime.linux.seccomp', 'hashlib') if m in sys.modules))\n"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_a_different_profile_is_a_different_entry(tmp_path: Path, compiles: list[int]) -> None:
    compile_seccomp(PROFILE, str(tmp_path))
    other = compile_seccomp({**PROFILE, "defaultAction": "SCMP_ACT_KILL"}, str(tmp_path))
    assert len(compiles) == 2 and other != compile_seccomp(PROFILE, str(tmp_path))


def test_another_libseccomp_is_another_entry() -> None:
    library = seccomp_cache.library_identity()
    assert library is not None and "/libseccomp.so" in library
    assert seccomp_cache.key(PROFILE, library) != seccomp_cache.key(PROFILE, library + "1")


def test_a_cache_others_can_write_is_not_trusted(tmp_path: Path, compiles: list[int]) -> None:
    compile_seccomp(PROFILE, str(tmp_path))
    os.chmod(tmp_path / SECCOMP_CACHE, 0o777)
    compile_seccomp(PROFILE, str(tmp_path))
    assert len(compiles) == 2


def test_a_damaged_entry_is_compiled_again(tmp_path: Path, compiles: list[int]) -> None:
    good = compile_seccomp(PROFILE, str(tmp_path))
    (entry,) = (tmp_path / SECCOMP_CACHE).iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])
    assert compile_seccomp(PROFILE, str(tmp_path)) == good
    assert len(compiles) == 2


def test_invalid_profiles_are_not_cached(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown action"):
        compile_seccomp({"defaultAction": "SCMP_ACT_MAYBE"}, str(tmp_path))
    assert not (tmp_path / SECCOMP_CACHE).exists() or list((tmp_path / SECCOMP_CACHE).iterdir()) == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_the_canonical_text_is_jsons_sorted_compact_text(value: object) -> None:
    assert jsontext.dumps_canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))
