"""A recording stand-in for berth.runtime.linux.syscalls.Syscalls, for unit tests without root."""

from __future__ import annotations

from typing import Any

from berth.runtime.linux.syscalls import Syscalls


class FakeSyscalls(Syscalls):
    """Records each call as (name, args...) instead of entering the kernel."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
        self.calls.append(("mount", source, target, fstype, flags, data))

    def umount2(self, target: str, flags: int = 0) -> None:
        self.calls.append(("umount2", target, flags))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self.calls.append(("pivot_root", new_root, put_old))

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self.calls.append(("prctl", option, arg2))
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self.calls.append(("capset", effective, permitted, inheritable))

    def seccomp_set_mode_filter(self, program: bytes, flags: int) -> None:
        self.calls.append(("seccomp", program, flags))
