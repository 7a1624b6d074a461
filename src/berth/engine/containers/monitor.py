"""The per-container monitor: the container's parent, which outlives the ``berth`` command.

``spawn`` forks the calling ``berth`` process twice (no exec, so no interpreter start-up is paid),
and the grandchild, in its own session and marked a child subreaper, runs the runtime's ``create``.
The container's init is then reparented to it, so it alone can reap the init and learn its exit
status, as conmon does for podman. The monitor holds the container's stdio (pipes, or the pty master
the runtime hands over the console socket, runtime.md / runc's console-socket protocol), appends
output to the CRI-format log, serves ``attach`` and ``wait`` clients on a unix socket, and when the
init exits runs the engine's exit handler (record the exit, tear down, remove with ``--rm``). If
the restart policy wants the container again, the monitor waits out its backoff still serving the
socket: a client connecting then (a user's stop, kill or rm, which has recorded its intent first)
makes the policy check again at once, and waits for the monitor to end.

Attach socket protocol (``SOCK_SEQPACKET``, one message per packet). A client first sends
``attach`` or ``wait``. Then client to monitor: ``\\x00`` + stdin bytes, ``\\x01`` to close stdin,
``\\x02`` + rows, cols (two unsigned shorts) to resize the terminal. Monitor to attach clients:
``\\x01`` + stdout bytes, ``\\x02`` + stderr bytes; to every client at the end ``\\x03`` + the exit
code in ASCII, then the socket closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

from berth import codecache
from berth.engine.containers.logs import LogWriter
from berth.engine.runtime import RuntimeFailure, last_error_line
from berth.fsutil import atomic_write
from berth.spec.records import record

_PR_SET_CHILD_SUBREAPER = 36
STDIN, CLOSE_STDIN, RESIZE = 0, 1, 2
STDOUT, STDERR, EXIT = 1, 2, 3
_MAX_PACKET = 32768
#: How long output may still drain after the init exits (a process outside the pid namespace could
#: keep the pipes open for ever).
_DRAIN_S = 2.0


@record
class MonitorSpec:
    """What the monitor needs to start and watch one container."""

    cid: str
    bundle: Path
    rundir: Path
    #: Where attach and wait clients connect.
    attach_socket: Path
    #: Holds the exit code once the container has exited.
    exit_file: Path
    log_path: Path | None
    #: The runtime command line (from the pid file, console socket and log paths) that creates the
    #: container, or creates and starts it when nothing has to be set up in between.
    create_argv: Callable[[Path, str | None, Path], list[str]]
    terminal: bool
    stdin: bool
    #: called the moment the container's process ended, to begin what needs no exit code (the
    #: runtime's delete); returns the function that, given the code, records the exit and tears
    #: down, leaving the monitor's socket, and returns the seconds the restart policy waits before
    #: starting the container again, or None
    on_exit: Callable[[], Callable[[int], float | None]]
    #: the restart policy's next step, when its wait is over (True) or a client woke the monitor
    #: (False): whether to wait on
    restart: Callable[[bool], bool]
    #: ``--log-opt max-size`` in bytes (0: no limit)
    log_size_max: int = 0
    #: starts one health check in the background (``berth.engine.containers.health``), every
    #: ``health_interval`` seconds while the container runs; None: it has none
    health_check: Callable[[], subprocess.Popen[bytes]] | None = None
    health_interval: float = 0.0


class _HealthTimer:
    """Starts a health check every interval, one at a time (a slow check delays the next)."""

    def __init__(self, start: Callable[[], subprocess.Popen[bytes]] | None, interval: float) -> None:
        self.start = start if interval > 0 else None
        self.interval = interval
        self.due = time.monotonic() + interval
        self.running: subprocess.Popen[bytes] | None = None

    def run_due(self, timeout: float | None) -> float | None:
        """Start a check if one is due; the select timeout that wakes the loop for the next."""
        if self.start is None:
            return timeout
        now = time.monotonic()
        if now >= self.due:
            # The loop's reaping may have collected it already: poll() then reports it done.
            if self.running is None or self.running.poll() is not None:
                self.running = self.start()
            self.due = now + self.interval
        wait = max(0.0, self.due - now)
        return wait if timeout is None else min(timeout, wait)


class CreateFailure(RuntimeFailure):
    """The runtime could not create the container."""


class PendingMonitor:
    """A monitor that is creating its container; ``wait`` for the outcome."""

    def __init__(self, cid: str, reply_fd: int, attach_socket: socket.socket | None = None) -> None:
        self.cid = cid
        self._reply_fd = reply_fd
        #: connected as an attach client from the start (``spawn(..., attach=True)``)
        self.attach_socket = attach_socket

    def wait(self) -> tuple[int, int]:
        """(monitor pid, container init pid) once created; ``CreateFailure`` with the runtime's message."""
        with os.fdopen(self._reply_fd, "rb") as fh:
            reply = fh.read()
        try:
            message = json.loads(reply)
        except ValueError:
            raise CreateFailure(f"monitor of container {self.cid[:12]} died before reporting") from None
        if "error" in message:
            raise CreateFailure(message["error"])
        return int(message["monitor"]), int(message["pid"])


def spawn(spec: MonitorSpec, attach: bool = False) -> PendingMonitor:
    """Start the monitor, which creates the container; the caller may work meanwhile, then ``wait``.

    With ``attach``, the pending monitor's ``attach_socket`` is already an attach client of it,
    connected before the runtime runs anything, so no output is missed even when the monitor's
    runtime command also starts the container.

    The caller must hold no database connection: it would be shared with the monitor.
    """
    spec.rundir.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if attach else (None, None)
    child = os.fork()
    if child == 0:
        # What the caller left for the cycle collector (a file object, say) must not be finalized
        # here: its descriptor number is closed below and reused, and closing it again would
        # close a descriptor of the monitor's own (a lock's).
        gc.freeze()
        try:
            os.close(read_end)
            if ours is not None:
                ours.close()
            os.setsid()
            if os.fork() == 0:
                _monitor(spec, write_end, theirs)
        finally:
            os._exit(0)
    os.close(write_end)
    if theirs is not None:
        theirs.close()
    os.waitpid(child, 0)
    return PendingMonitor(spec.cid, read_end, ours)


def _detach_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _bind(sock: socket.socket, path: Path) -> None:
    # A unix socket path may hold only 107 bytes; going through /proc/self/fd of the directory keeps
    # any run root usable.
    dirfd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{dirfd}/{path.name}")
    finally:
        os.close(dirfd)


def connect(path: Path) -> socket.socket:
    """Connect to a monitor's attach socket at ``path`` (any length)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    dirfd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{path.name}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    return sock


def _monitor(spec: MonitorSpec, sync: int, client: socket.socket | None) -> None:
    """Body of the monitor process; never returns."""
    code = 1
    try:
        _detach_stdio()
        # The code cache's file stays open: the exit's cleanup imports what it needs only then.
        kept = {sync, *codecache.open_descriptors()}
        if client is not None:
            kept.add(client.fileno())
        for low, high in zip([2, *sorted(kept)], [*sorted(kept), 65536], strict=True):
            os.closerange(low + 1, high)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        # Caught, not ignored: an ignored disposition would survive exec into the runtime and the
        # container (a shell cannot trap a signal ignored on entry); a caught one is reset by exec.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, _ignore)
        _Monitor(spec, sync, client).run()
        code = 0
    except BaseException:
        with contextlib.suppress(OSError):
            import traceback

            (spec.rundir / "monitor.err").write_text(traceback.format_exc())
    os._exit(code)


def _ignore(_signum: int, _frame: object) -> None:
    """Signals meant for the command that started the monitor do not stop it."""


class _Monitor:
    def __init__(self, spec: MonitorSpec, sync: int, client: socket.socket | None) -> None:
        self.spec = spec
        self.sync = sync
        self.sel = selectors.DefaultSelector()
        self.outputs: dict[int, int] = {}  # fd -> stream
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.clients: dict[int, tuple[socket.socket, str]] = {}
        if client is not None:  # the starting command's attach connection (``spawn``)
            self.clients[client.fileno()] = (client, "attach")
        self.log = LogWriter(spec.log_path, spec.log_size_max) if spec.log_path else None
        self.pid = 0
        self.status: int | None = None

    def _report(self, message: dict[str, object]) -> None:
        # The command may have been killed meanwhile; the container is still ours to watch.
        with contextlib.suppress(BrokenPipeError):
            os.write(self.sync, json.dumps(message).encode())
        os.close(self.sync)

    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        try:
            self._create()
        except CreateFailure as err:
            self._report({"error": str(err)})
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        _bind(listener, self.spec.attach_socket)
        listener.listen(16)
        self._report({"monitor": os.getpid(), "pid": self.pid})
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        for sock, _mode in self.clients.values():
            self.sel.register(sock, selectors.EVENT_READ, "client")
        self._loop(wake_r)
        finish_exit = self.spec.on_exit()
        code = _exit_code(self.status if self.status is not None else 0)
        atomic_write(self.spec.exit_file, f"{code}\n".encode(), durable=False)  # in the run root
        delay = finish_exit(code)
        for cfd, (sock, _mode) in list(self.clients.items()):
            with contextlib.suppress(OSError):
                sock.send(bytes([EXIT]) + str(code).encode())
            self._drop(cfd)
        if self.log:  # every line is written already; flushing it to the disk need not delay the exit code
            self.log.close()
        if delay is not None:
            self._await_restart(wake_r, time.monotonic() + delay)
        for cfd in list(self.clients):
            self._drop(cfd)  # a user's command waiting for this monitor to end sees the socket close
        listener.close()

    def _create(self) -> None:
        spec = self.spec
        pid_file = spec.rundir / "pidfile"
        runtime_log = spec.rundir / "runtime.log"
        console_path: str | None = None
        console: socket.socket | None = None
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        child_fds: list[int] = []
        if spec.terminal:
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            _bind(console, spec.rundir / "console")
            console.listen(1)
            console_path = f"/proc/{os.getpid()}/cwd/console"
            os.chdir(spec.rundir)
            stdio = (null, null, null)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            self.outputs = {out_r: STDOUT, err_r: STDERR}
            in_r = null
            if spec.stdin:
                in_r, self.stdin_fd = os.pipe2(os.O_CLOEXEC)
                child_fds.append(in_r)
            stdio = (in_r, out_w, err_w)
            child_fds += [out_w, err_w]
        argv = spec.create_argv(pid_file, console_path, runtime_log)
        proc = subprocess.Popen(argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], cwd=spec.bundle)
        if console is not None:
            self.master = _receive_console(console, proc)
            console.close()
        rc = proc.wait()
        for fd in (*child_fds, null):
            os.close(fd)
        if rc != 0:
            message = ""
            if runtime_log.exists():
                message = last_error_line(runtime_log.read_text(errors="replace"))
            raise CreateFailure(message or f"the runtime exited with status {rc}")
        self.pid = int(pid_file.read_text().strip())
        if self.master is not None:
            self.outputs = {self.master: STDOUT}
            if spec.stdin:
                self.stdin_fd = self.master

    def _loop(self, wake_r: int) -> None:
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, "output")
        deadline: float | None = None
        checks = _HealthTimer(self.spec.health_check, self.spec.health_interval)
        while self.outputs or self.status is None:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and timeout == 0:
                break
            if self.status is None:
                timeout = checks.run_due(timeout)
            for key, _ in self.sel.select(timeout):
                kind = key.data
                if kind == "wake":
                    _drain(wake_r)
                    self._reap()
                elif kind == "output":
                    self._pump(int(key.fd))
                elif kind == "listen":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                else:
                    self._from_client(int(key.fd))
            self._reap()
            if self.status is not None and deadline is None:
                deadline = time.monotonic() + _DRAIN_S
        for fd in list(self.outputs):
            self._close_output(fd)

    def _await_restart(self, wake_r: int, deadline: float) -> None:
        """Wait out the restart backoff, serving the socket; a client connecting makes the policy
        check again before the deadline."""
        while True:
            woken = False
            remaining = deadline - time.monotonic()
            if remaining > 0:
                for key, _ in self.sel.select(remaining):
                    if key.data == "wake":
                        _drain(wake_r)
                    elif key.data == "listen":
                        self._accept(key.fileobj)  # type: ignore[arg-type]
                        woken = True
                    elif key.data == "client":
                        self._from_client(int(key.fd))
                if not woken and time.monotonic() < deadline:
                    continue  # a signal or a client's message: nothing for the policy
            if not self.spec.restart(time.monotonic() >= deadline):
                return

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.status = status

    def _pump(self, fd: int) -> None:
        try:
            data = os.read(fd, _MAX_PACKET - 1)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EIO:  # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        stream = self.outputs[fd]
        if self.log:
            self.log.write("stdout" if stream == STDOUT else "stderr", data)
        packet = bytes([stream]) + data
        for cfd, (sock, mode) in list(self.clients.items()):
            if mode == "attach":
                try:
                    sock.send(packet)
                except OSError:
                    self._drop(cfd)

    def _close_output(self, fd: int) -> None:
        self.sel.unregister(fd)
        del self.outputs[fd]
        if fd != self.master:
            os.close(fd)

    def _accept(self, listener: socket.socket) -> None:
        sock, _ = listener.accept()
        self.clients[sock.fileno()] = (sock, "")
        self.sel.register(sock, selectors.EVENT_READ, "client")

    def _drop(self, fd: int) -> None:
        sock, _ = self.clients.pop(fd)
        self.sel.unregister(sock)
        # Closing a unix socket with unread packets makes the peer's next read fail (ECONNRESET)
        # instead of returning what is queued for it, the exit code included: read what the client
        # sent last (a terminal resize, say) first.
        with contextlib.suppress(OSError):
            while sock.recv(_MAX_PACKET, socket.MSG_DONTWAIT):
                pass
        sock.close()

    def _from_client(self, fd: int) -> None:
        sock, mode = self.clients[fd]
        try:
            data = sock.recv(_MAX_PACKET)
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        if not mode:
            if data == b"reopen-log":
                self._reopen_log()
                self._drop(fd)  # the end of the connection tells the client it is done
                return
            self.clients[fd] = (sock, "attach" if data == b"attach" else "wait")
            return
        kind, body = data[0], data[1:]
        if kind == STDIN and self.stdin_fd is not None:
            try:
                os.write(self.stdin_fd, body)
            except OSError:
                self._close_stdin()
        elif kind == CLOSE_STDIN:
            if self.master is not None and self.stdin_fd is not None:
                os.write(self.master, b"\x04")  # a terminal's end of input is ^D
            else:
                self._close_stdin()
        elif kind == RESIZE and self.master is not None and len(body) == 4:
            rows, cols = struct.unpack("HH", body)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _reopen_log(self) -> None:
        """Write to a new file at the log's path (the CRI's ReopenContainerLog: the kubelet renamed
        the old one to rotate it)."""
        if self.log is not None and self.spec.log_path is not None:
            self.log.close()
            self.log = LogWriter(self.spec.log_path, self.spec.log_size_max)

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        self.stdin_fd = None


def reopen_log(path: Path) -> None:
    """Make the monitor listening at ``path`` write its log to a new file at the log's path, and
    wait until it has."""
    with attach_client(path, "reopen-log") as sock:
        while sock.recv(_MAX_PACKET):
            pass


def _receive_console(console: socket.socket, proc: subprocess.Popen[bytes]) -> int | None:
    """Accept the runtime's connection on the console socket and take the pty master it sends."""
    console.settimeout(0.1)
    while True:
        try:
            conn, _ = console.accept()
            break
        except TimeoutError:
            if proc.poll() is not None:
                return None
    with conn:
        conn.settimeout(30)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    if not fds:
        raise CreateFailure("runtime sent no terminal over the console socket")
    os.set_inheritable(fds[0], False)
    return fds[0]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _exit_code(status: int) -> int:
    # A signal death is reported as 128 + the signal number, as shells and podman do.
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def attach_client(path: Path, mode: str = "attach") -> socket.socket:
    """Connect to a monitor and announce ``mode`` (``attach``, ``wait`` or ``reopen-log``)."""
    sock = connect(path)
    sock.send(mode.encode())
    return sock
