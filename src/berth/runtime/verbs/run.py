"""``run``: create, start and (unless ``--detach``) wait for the container, then delete it.

The runtime makes itself a child subreaper first, so the init (whose parent, stage 1, exits) is
reparented to it and can be waited for; signals the runtime receives are forwarded to the init,
and its exit status becomes the runtime's (128 + n for a signal, as a shell reports it).
"""

from __future__ import annotations

import contextlib
import os
import signal

from berth.runtime.linux.syscalls import PR_SET_CHILD_SUBREAPER, Syscalls, syscalls
from berth.runtime.verbs.create import CreateOptions, create
from berth.runtime.verbs.delete import destroy
from berth.runtime.verbs.start import start

_FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGWINCH)  # fmt: skip


def run(opts: CreateOptions, detach: bool = False, sc: Syscalls | None = None) -> int:
    """Run the container to completion; return its exit status (0 at once with ``detach``)."""
    sc = sc or syscalls()
    if not detach:
        sc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    c = create(opts, sc)
    try:
        start(c)
    except BaseException:
        destroy(c)
        raise
    if detach:
        return 0
    for signum in _FORWARDED:
        signal.signal(signum, lambda n, _frame: _forward(c.pid, n))
    try:
        status = _wait(c.pid)
    finally:
        destroy(c)
    return status


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait(pid: int) -> int:
    """Wait for the init, reaping any other orphan that the subreaper inherits meanwhile."""
    while True:
        got, status = os.waitpid(-1, 0)
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
