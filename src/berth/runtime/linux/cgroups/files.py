"""File I/O on cgroup filesystems: the only way the managers touch the kernel.

A resource setting becomes a list of ``Write``s (controller, file, value, the config field it came
from); ``apply_writes`` performs them and turns a kernel refusal into one error line naming the field.
"""

from __future__ import annotations

import errno
import os
import time

from berth.errors import BerthError, InvalidArgument, InvalidState, Unsupported

TYPE_CHECKING = False  # importing typing costs the start path ~3 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


class Write:
    """One value for one cgroup file, and the ``linux.resources`` field that asked for it.

    (Plain classes rather than dataclasses or NamedTuples in this package: importing dataclasses or
    typing costs the runtime's start path milliseconds.)
    """

    __slots__ = ("controller", "field", "file", "swap_with_next_on_einval", "value")

    def __init__(
        self, controller: str, file: str, value: str, field: str, swap_with_next_on_einval: bool = False
    ) -> None:
        self.controller = controller  # v1 hierarchy key ("memory", "cpu", ...); on v2 the owning controller
        self.file = file
        self.value = value
        self.field = field
        # The kernel checks some pairs against each other (memory <= memsw, rt runtime <= rt period):
        # if this write is refused with EINVAL, write the next one first and try again.
        self.swap_with_next_on_einval = swap_with_next_on_einval

    def _key(self) -> tuple[str, str, str, str, bool]:
        return (self.controller, self.file, self.value, self.field, self.swap_with_next_on_einval)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Write) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Write{self._key()!r}"


def read_text(directory: str, name: str) -> str:
    """Contents of ``directory/name`` without the trailing newline."""
    # Bytes, decoded here: a text-mode open(encoding="ascii") imports a codec module on each start.
    with open(os.path.join(directory, name), "rb") as fh:
        return fh.read().decode("ascii").rstrip("\n")


def read_int(directory: str, name: str, default: int = 0) -> int:
    """A single-number cgroup file; ``max`` and a missing file give ``default``."""
    try:
        text = read_text(directory, name)
    except FileNotFoundError:
        return default
    return default if text in ("max", "") else int(text)


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``key value`` per line, e.g. memory.stat); missing file gives ``{}``."""
    try:
        text = read_text(directory, name)
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def write_file(directory: str, name: str, value: str) -> None:
    """Write ``value`` to an existing cgroup file in one write(2) (cgroup files are never created).

    O_TRUNC is a no-op on cgroupfs, and makes a plain directory standing in for a cgroup read the same.
    """
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def field_error(write: Write, path: str, err: OSError) -> BerthError:
    """The one-line error for a write the kernel refused."""
    what = f"linux.resources.{write.field}: cannot write {write.value!r} to {path}"
    if err.errno in (errno.ENOENT, errno.EOPNOTSUPP):
        return Unsupported(f"{what}: this kernel or cgroup has no such file")
    if err.errno in (errno.EINVAL, errno.ERANGE, errno.EBUSY, errno.EPERM):
        return InvalidArgument(f"{what}: the kernel rejected the value ({os.strerror(err.errno)})")
    return BerthError(f"{what}: {err.strerror or err}")


def apply_writes(writes: Iterable[Write], directory_of: Callable[[str], str | None]) -> None:
    """Perform ``writes`` in order; ``directory_of(controller)`` locates each file's cgroup."""
    pending = list(writes)
    i = 0
    while i < len(pending):
        w = pending[i]
        directory = directory_of(w.controller)
        if directory is None:
            raise Unsupported(f"linux.resources.{w.field}: no {w.controller} cgroup controller on this host")
        try:
            write_file(directory, w.file, w.value)
        except OSError as err:
            if w.swap_with_next_on_einval and err.errno == errno.EINVAL and i + 1 < len(pending):
                pending[i], pending[i + 1] = pending[i + 1], _without_swap(w)
                continue
            raise field_error(w, os.path.join(directory, w.file), err) from None
        i += 1


def _without_swap(w: Write) -> Write:
    return Write(w.controller, w.file, w.value, w.field)


def write_procs(directory: str, pid: int) -> None:
    """Move ``pid`` into the cgroup; retries while the kernel still calls the task new (EINVAL)."""
    for attempt in range(5):
        try:
            write_file(directory, "cgroup.procs", str(pid))
            return
        except OSError as err:
            if err.errno == errno.EINVAL and attempt < 4:
                time.sleep(0.03)
                continue
            if err.errno == errno.ESRCH:
                raise InvalidState(
                    f"cannot add process {pid} to cgroup {directory}: no such process"
                ) from None
            raise BerthError(f"cannot add process {pid} to cgroup {directory}: {err.strerror}") from None


def read_procs(directory: str) -> list[int]:
    """Pids in the cgroup at ``directory`` and every cgroup below it."""
    pids: list[int] = []
    for dirpath, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            try:
                text = read_text(dirpath, "cgroup.procs")
            except FileNotFoundError:  # removed while walking
                continue
            pids.extend(int(line) for line in text.split())
    return pids


def make_dirs(path: str) -> list[str]:
    """Create ``path`` and any missing parents; return the ones created, outermost first."""
    missing = []
    cur = path
    while not os.path.isdir(cur):
        missing.append(cur)
        cur = os.path.dirname(cur)
    created = []
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue  # a concurrent runtime made it: it is not ours to remove
        created.append(d)
    return created


def remove_dirs(created: Iterable[str], timeout: float = 2.0) -> None:
    """Remove the directories this manager created (innermost first), with anything the container
    made inside them; retries while the kernel still lists exiting tasks (EBUSY)."""
    deadline = time.monotonic() + timeout
    for top in sorted(set(created), key=len, reverse=True):
        try:
            os.rmdir(top)  # the usual case: no cgroup inside, no task left (no directory walk)
            continue
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            pass  # EBUSY: cgroups inside it, or tasks still exiting
        subdirs = [dirpath for dirpath, _d, _f in os.walk(top, topdown=False)]
        for d in subdirs:
            _rmdir_retrying(d, deadline)


def _rmdir_retrying(path: str, deadline: float) -> None:
    delay = 0.005
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise InvalidState(f"cannot remove cgroup {path}: {err.strerror}") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def unified_writes(unified: Mapping[str, object], field: str = "unified") -> list[Write]:
    """runtime-spec config-linux.md#unified: each key is a file in the cgroup, each value its content."""
    writes = []
    for key, value in unified.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"linux.resources.{field}.{key}: value must be a string")
        controller, dot, rest = key.partition(".")
        if "/" in key or not dot or not rest or key.startswith("."):
            raise InvalidArgument(f"linux.resources.{field}: {key!r} is not a cgroup interface file name")
        writes.append(Write(controller, key, value, f"{field}.{key}"))
    return writes
