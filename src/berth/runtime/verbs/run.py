"""``run``: create, start and (unless ``--detach``) wait for the container, then delete it.

The runtime makes itself a child subreaper first, so the init (whose parent, stage 1, exits) is
reparented to it and can be waited for; signals the runtime receives are forwarded to the init,
and its exit status becomes the runtime's (128 + n for a signal, as a shell reports it).

A config with ``process.terminal`` and no ``--console-socket`` gets its pty master back over a
socket pair, and the runtime copies between its own stdio and the pty (as ``runc run`` does).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the signal module's enums cost ~4 ms
import os

from berth.errors import NotFound
from berth.runtime import container
from berth.runtime.container import Container
from berth.runtime.linux.syscalls import PR_SET_CHILD_SUBREAPER, Syscalls, syscalls
from berth.runtime.verbs.create import CreateOptions, create_parsed
from berth.runtime.verbs.delete import destroy
from berth.runtime.verbs.start import poststart, start
from berth.spec.runtime_config import RuntimeConfig

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_FORWARDED = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM, _signal.SIGUSR1,
              _signal.SIGUSR2, _signal.SIGWINCH)  # fmt: skip


def run(opts: CreateOptions, detach: bool = False, sc: Syscalls | None = None) -> int:
    """Run the container to completion; return its exit status (0 at once with ``detach``)."""
    sc = sc or syscalls()
    if not detach:
        sc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    ours = -1
    if not detach and not opts.console_socket and _wants_terminal(opts.bundle):
        ours, theirs = _socketpair()
        opts = opts.replace(console_fd=theirs)
    try:
        c, config = create_parsed(opts, sc)
        master = _receive_master(ours) if ours >= 0 else -1
    finally:
        if ours >= 0:
            os.close(ours)
    try:
        with container.lock(c.root, c.id):
            start(c, config)
        poststart(c, config)
    except BaseException:
        _destroy(c, config)
        raise
    if detach:
        return 0
    for signum in _FORWARDED:
        _signal.signal(signum, lambda n, _frame: _forward(c.pid, n))
    try:
        status = _wait(c.pid) if master < 0 else _proxy_and_wait(c.pid, master)
    finally:
        _destroy(c, config)
    return status


def _destroy(c: Container, config: RuntimeConfig) -> None:
    try:
        with container.lock(c.root, c.id):
            destroy(c, config)
    except NotFound:
        pass  # a concurrent ``delete --force`` got there first


def _wants_terminal(bundle: str) -> bool:
    from berth.runtime import jsontext

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as fh:
            process = jsontext.loads(fh.read()).get("process") or {}
    except (OSError, ValueError, AttributeError):
        return False  # create reports the problem
    return process.get("terminal") is True


def _socketpair() -> tuple[int, int]:
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def _receive_master(fd: int) -> int:
    import socket

    sock = socket.socket(fileno=os.dup(fd))
    with sock:
        _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    return fds[0]


def _proxy_and_wait(pid: int, master: int) -> int:
    """Copy stdin to the pty and the pty to stdout (stdin raw if a terminal) until the init exits."""
    import select

    restore = _raw_stdin(master)
    inputs = [master, 0]
    try:
        while True:
            ready, _, _ = select.select(inputs, [], [], 0.05)
            if master in ready and not _copy(master, 1):
                inputs.remove(master)
            if 0 in ready and not _copy(0, master):
                inputs.remove(0)
            status = _reap(pid)
            if status is not None:
                while master in inputs and select.select([master], [], [], 0)[0] and _copy(master, 1):
                    pass
                return status
    finally:
        os.close(master)
        if restore is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, restore)


def _raw_stdin(master: int) -> list[Any] | None:
    """Put a terminal stdin in raw mode (returning its old mode) and give the pty its size."""
    if not os.isatty(0):
        return None
    import fcntl
    import termios
    import tty

    fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    old = termios.tcgetattr(0)
    tty.setraw(0)
    return old


def _copy(src: int, dst: int) -> bool:
    """Move one chunk; False at end of input (EIO is how a pty reports its other side closed)."""
    try:
        data = os.read(src, 65536)
    except OSError:
        return False
    if not data:
        return False
    while data:
        data = data[os.write(dst, data) :]
    return True


def _reap(pid: int) -> int | None:
    """Reap exited children without blocking; the init's exit status once it has exited."""
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if got == 0:
            return None
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return  # exited; the wait loop sees it


def _wait(pid: int) -> int:
    """Wait for the init, reaping any other orphan that the subreaper inherits meanwhile."""
    while True:
        got, status = os.waitpid(-1, 0)
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
