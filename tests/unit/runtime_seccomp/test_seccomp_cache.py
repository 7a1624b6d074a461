"""The compiled-program cache: hits return the same program; untrusted or damaged entries are ignored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.linux import seccomp
from berth.runtime.linux.seccomp import CompiledFilter, compile_filter

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
    real = seccomp._compile

    def counting(profile: Any) -> CompiledFilter:
        calls.append(1)
        return real(profile)

    monkeypatch.setattr(seccomp, "_compile", counting)
    return calls


def test_second_compile_of_a_profile_is_read_from_the_cache(tmp_path: Path, compiles: list[int]) -> None:
    cache = tmp_path / "cache"
    first = compile_filter(PROFILE, str(cache))
    second = compile_filter(dict(reversed(list(PROFILE.items()))), str(cache))  # key order does not matter
    assert first == second == compile_filter(PROFILE)
    assert first.flags == 2
    assert len(compiles) == 2  # the first cached call and the uncached one
    assert oct(cache.stat().st_mode & 0o777) == "0o700"


def test_a_different_profile_is_a_different_entry(tmp_path: Path, compiles: list[int]) -> None:
    compile_filter(PROFILE, str(tmp_path))
    other = compile_filter({**PROFILE, "defaultAction": "SCMP_ACT_KILL"}, str(tmp_path))
    assert len(compiles) == 2 and other != compile_filter(PROFILE, str(tmp_path))


def test_a_cache_others_can_write_is_not_trusted(tmp_path: Path, compiles: list[int]) -> None:
    compile_filter(PROFILE, str(tmp_path))
    os.chmod(tmp_path, 0o777)
    compile_filter(PROFILE, str(tmp_path))
    assert len(compiles) == 2


def test_a_damaged_entry_is_compiled_again(tmp_path: Path, compiles: list[int]) -> None:
    good = compile_filter(PROFILE, str(tmp_path))
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])
    assert compile_filter(PROFILE, str(tmp_path)) == good
    assert len(compiles) == 2


def test_invalid_profiles_are_not_cached(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown action"):
        compile_filter({"defaultAction": "SCMP_ACT_MAYBE"}, str(tmp_path))
    assert list(tmp_path.iterdir()) == []
