"""``kill``: signal the container's init, or with ``--all`` every process in it (runtime.md#kill)."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, InvalidState
from berth.runtime import container
from berth.runtime.container import Container
from berth.runtime.linux.cgroups import load_manager

_NAMES = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
    "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
    "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip


def parse_signal(text: str) -> int:
    """A signal given as a number, a name (``TERM``) or a SIG-prefixed name (``SIGTERM``)."""
    if text.isdigit():
        number = int(text)
        if 0 < number <= 64:
            return number
        raise InvalidArgument(f"invalid signal {text!r}")
    name = text.upper().removeprefix("SIG")
    if name in _NAMES:
        return _NAMES[name]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        offset = name[5:].lstrip("+-")
        base = 34 if name.startswith("RTMIN") else 64
        delta = int(offset) if offset.isdigit() else 0
        number = base + delta if name.startswith("RTMIN") else base - delta
        if 34 <= number <= 64:
            return number
    raise InvalidArgument(f"invalid signal {text!r}")


def kill(c: Container, signal: int, all_processes: bool = False) -> None:
    """Signal the container; an error if it is not created, running or paused."""
    status = c.status()
    if status not in (container.CREATED, container.RUNNING, container.PAUSED):
        raise InvalidState(f"container {c.id!r} is {status}: cannot kill it")
    if all_processes and c.cgroup:
        manager = load_manager(c.cgroup)
        for pid in manager.pids():
            try:
                os.kill(pid, signal)
            except ProcessLookupError:
                continue  # exited meanwhile
        if signal == 9 and manager.is_frozen():
            manager.thaw()  # frozen tasks die only once thawed (runc does the same for kill --all KILL)
        return
    if not c.signal(signal):  # it exited since its status was read
        raise InvalidState(f"container {c.id!r} is stopped: cannot kill it")
