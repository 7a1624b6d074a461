"""The interface every cgroup manager (v1, v2) offers the runtime's lifecycle."""

from __future__ import annotations

import abc
import errno
import time

from berth.errors import BerthError

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    #: Loads an eBPF program (raw struct bpf_insn array, with ``devices_bpf.LICENSE``) as
    #: BPF_PROG_TYPE_CGROUP_DEVICE and attaches it to the cgroup directory given, replacing any
    #: program this runtime attached there before. Needs bpf(2), so the runtime's syscall module
    #: provides it.
    DeviceFilterLoader = Callable[[bytes, str], None]

#: How long freeze and thaw wait for the kernel to confirm the new state.
FREEZE_TIMEOUT = 10.0


class CgroupAccessDenied(BerthError):
    """The cgroup could not be created for want of permission (an unprivileged, rootless caller)."""


def creation_error(err: OSError) -> BerthError:
    """The error for a cgroup directory the kernel would not make."""
    message = f"cannot create cgroup {err.filename}: {err.strerror}"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CgroupAccessDenied(message)
    return BerthError(message)


class CgroupManager(abc.ABC):
    """A container's cgroup: created once, then filled, limited, frozen, measured and destroyed.

    A manager only reads and writes files under the cgroup filesystems (no syscalls), and survives
    process boundaries through ``to_state()`` / ``berth.runtime.linux.cgroups.load_manager``.
    """

    #: 1 for the per-controller hierarchies, 2 for the unified hierarchy.
    version: int
    device_filter_loader: DeviceFilterLoader | None = None

    def set_device_filter_loader(self, loader: DeviceFilterLoader) -> None:
        """Provide the bpf(2) loader cgroup v2 needs for device rules (v1 writes devices.allow and
        never calls it). Without one, a v2 manager refuses restrictive device rules."""
        self.device_filter_loader = loader

    @abc.abstractmethod
    def create(self) -> None:
        """Make the cgroup's directories, remembering which did not exist before."""

    @abc.abstractmethod
    def add_process(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the cgroup."""

    @abc.abstractmethod
    def add_self(self) -> None:
        """Move the calling process, which must have a single thread, into the cgroup."""

    @abc.abstractmethod
    def set_resources(self, resources: Mapping[str, Any]) -> None:
        """Apply runtime-spec ``linux.resources`` (config-linux.md#control-groups).

        Every value is checked before anything is written; a value the kernel refuses raises one
        error naming the field.
        """

    @abc.abstractmethod
    def freeze(self) -> None:
        """Stop every process in the cgroup; returns once the kernel reports it frozen."""

    @abc.abstractmethod
    def thaw(self) -> None:
        """Resume every process in the cgroup."""

    @abc.abstractmethod
    def is_frozen(self) -> bool:
        """True when the cgroup is frozen (or freezing)."""

    @abc.abstractmethod
    def pids(self) -> list[int]:
        """Pids of every process in the cgroup and below it."""

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """Resource usage in the shape of ``runc events --stats``' ``data``: cpu, memory, pids, blkio,
        hugetlb."""

    @abc.abstractmethod
    def oom_kill_count(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Remove the directories ``create`` made (never one it found); retries briefly while the
        kernel still lists exiting tasks. Safe to call twice."""

    @abc.abstractmethod
    def to_state(self) -> dict[str, Any]:
        """A JSON-safe description from which ``load_manager`` rebuilds this manager."""


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    """Call ``done`` until it returns True (then True) or ``timeout`` seconds have passed (then
    False), sleeping 1 ms, then twice as long each time, up to 50 ms, between calls."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
