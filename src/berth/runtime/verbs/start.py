"""``start``: let a created container's init exec the user process (runtime.md#start).

Opening the exec FIFO for reading releases the init; its first byte says it is past the wait, and
end-of-file (the FIFO is close-on-exec in the init) says execve(2) succeeded. Any other bytes are
the init's error message (a failed startContainer hook or exec). The FIFO is unlinked only then, so
the container reads as created (runtime.md#state: it has not executed the user-specified program)
while its startContainer hooks run.
"""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument, InvalidState
from berth.runtime import container, hooks, jsontext
from berth.runtime.container import Container
from berth.runtime.linux.syscalls import syscalls
from berth.runtime.log import warn
from berth.spec.runtime_config import RuntimeConfig, parse_config


def start(c: Container, config: RuntimeConfig | None = None) -> None:
    """Start ``c`` (status must be created); ``poststart`` then runs its hooks. ``config``: ``c.config``
    already parsed (``run`` has it from ``create``)."""
    status = c.status()
    if status != container.CREATED:
        raise InvalidState(f"cannot start container {c.id!r}: it is {status}, not created")
    config = config or parse_config(c.config)
    if config.process is None:
        # runtime.md#start: "If the process was not set, this operation MUST generate an error."
        raise InvalidArgument(f"cannot start container {c.id!r}: its config sets no process")
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _release(c, fd)
        message = _read_to_eof(fd)
        os.unlink(c.fifo)
    finally:
        os.close(fd)
    if message:
        raise BerthError(f"cannot start container {c.id!r}: {message}")


def poststart(c: Container, config: RuntimeConfig | None = None) -> None:
    """runtime.md#lifecycle step 9: the poststart hooks, after a successful ``start`` and outside
    the container's lock (a hook may well call the runtime about this container)."""
    config = config or parse_config(c.config)
    if config.hooks.get("poststart"):
        # Step 9 follows step 8 (the user-specified program runs), so the hooks see the container
        # running, with its process's pid, even if that process has exited since (step 10).
        state = jsontext.dumps(c.state_document(container.RUNNING, c.pid))
        # runtime.md#lifecycle: a failing poststart hook is only a warning.
        for line in hooks.warn_hooks("poststart", config.hooks, state):
            warn(line)


def _release(c: Container, fd: int) -> None:
    """Wait for the init's byte; a FIFO reader sees no hang-up before its first writer, so poll."""
    sc = syscalls()
    while True:
        if sc.readable_within(fd, 100):
            if os.read(fd, 1) == b"0":
                return
            raise BerthError(f"cannot start container {c.id!r}: its init exited")
        if container.process_start(c.pid) != c.pid_start:
            raise BerthError(f"cannot start container {c.id!r}: its init exited")


def _read_to_eof(fd: int) -> str:
    os.set_blocking(fd, True)
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()
