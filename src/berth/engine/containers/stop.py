"""Ending a container: ``stop``, ``kill``, ``wait`` and ``restart``. A user's stop or kill wins over
the restart policy (the protocol in ``berth.engine.containers.restart``)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import time

from berth.engine.containers import monitor
from berth.engine.containers.lock import container_lock
from berth.engine.containers.start import start_container
from berth.engine.containers.state import current_record, refresh, restart_pending
from berth.engine.engine import Engine
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE, CREATED, PAUSED, ContainerRecord
from berth.engine.options import CreateOptions
from berth.engine.runtime import OCIRuntime, RuntimeFailure
from berth.errors import InvalidArgument, InvalidState


def signal_name(sig: str) -> str:
    """A signal's name without ``SIG`` (or its number) for the runtime's ``kill``; bad ones refused."""
    text = sig.upper()
    if text.isdigit():
        return text
    text = text if text.startswith("SIG") else f"SIG{text}"
    if not hasattr(signal.Signals, text):
        raise InvalidArgument(f"invalid signal {sig!r}")
    return text[3:]


#: Signals (by name or number) a user sends to end a container rather than to make it reload.
_ENDING_SIGNALS = frozenset({"KILL", "9", "TERM", "15", "INT", "2", "QUIT", "3"})


def kill_container(engine: Engine, ref: str, sig: str = "KILL") -> ContainerRecord:
    """Send ``sig`` to the container's init (must be running). A signal that ends it (KILL, TERM,
    INT, QUIT or its stop signal) counts as a user's stop, which its restart policy respects; one
    sent to make it reload (HUP, USR1...) does not. An ending signal also ends a container waiting
    out a restart backoff (as Docker's kill does). After SIGKILL it returns once the exit is recorded."""
    name = signal_name(sig)
    record = refresh(engine, engine.db.container(ref))
    ends = name in _ENDING_SIGNALS or name == signal_name(record.config.get("stop_signal") or "TERM")
    runtime = engine.runtime(record.runtime)
    # Under the lock every restart takes (the protocol in ``restart``), so no restart slips in between.
    with container_lock(engine, record.id):
        record = engine.db.container(record.id)
        restarting = restart_pending(record)
        if record.state not in ACTIVE and not (ends and restarting):
            raise InvalidState(f"container {record.name} is not running (state {record.state})")
        if ends:
            engine.db.update_container(record.id, stopped_by_user=True)
        if record.state in ACTIVE:
            try:
                runtime.kill(record.id, name)
            except RuntimeFailure:
                if not ends or _runs(runtime, record.id):
                    raise  # an ending signal that found the container just ended did its job
        # Under the lock, which the monitor's cleanup takes too: the kill is logged before the death.
        container_event(engine.config, record, "kill")
    if restarting or (name in ("KILL", "9") and record.state != PAUSED):  # a frozen init dies on thaw
        engine.close()
        wait_socket(engine, record, None)
    return record


def _runs(runtime: OCIRuntime, cid: str) -> bool:
    state = runtime.state(cid)
    return state is not None and state.get("status") != "stopped"


def _wait_runtime(engine: Engine, record: ContainerRecord, timeout: float | None) -> bool:
    """Without a monitor, poll the runtime's state until the container stopped; ``False`` on timeout."""
    runtime = engine.runtime(record.runtime)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = runtime.state(record.id)
        if state is None or state.get("status") == "stopped":
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def wait_socket(
    engine: Engine, record: ContainerRecord, timeout: float | None, until_ended: bool = True
) -> bool:
    """Wait for the monitor to finish (or, if it is gone, the container); ``False`` on timeout.

    The monitor closes its clients' connections, then ends: with ``until_ended`` this waits for its
    process too, so that a user's stop, kill or rm returns with no monitor left that could act on
    the container. ``wait`` passes False: a monitor waiting out a restart backoff has closed its
    clients at the exit they waited for, and lives on."""
    path = engine.paths(record.id).attach_socket
    try:
        sock = monitor.attach_client(path, "wait")
    except OSError:
        # No monitor answers: the container's, if it ran, died (the runtime tells whether the
        # container still runs); one waiting out a restart backoff has ended.
        return _wait_runtime(engine, record, timeout) if record.state in ACTIVE else True
    deadline = None if timeout is None else time.monotonic() + timeout
    with sock:
        # Opened while connected, so the monitor's pid cannot yet belong to another process.
        ended = _peer_pidfd(sock) if until_ended else None
        sock.settimeout(timeout)
        try:
            while sock.recv(64):
                pass
        except TimeoutError:
            _closed(ended)
            return False
        except OSError:
            pass
    if ended is not None:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        poller = select.poll()
        poller.register(ended, select.POLLIN)  # a pidfd turns readable when its process ends
        done = bool(poller.poll(None if left is None else int(left * 1000)))
        _closed(ended)
        return done
    return True


def _peer_pidfd(sock: socket.socket) -> int | None:
    """A pidfd of the process at the other end of the unix socket (SO_PEERCRED: ``struct ucred``,
    its pid first); None if that process has ended already."""
    pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def _closed(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def stop_container(engine: Engine, ref: str, timeout: float | None = None) -> ContainerRecord:
    """Send the stop signal, wait ``timeout`` seconds (default: the container's), then SIGKILL. The
    restart policy leaves a stopped container stopped, whenever the stop arrives (the protocol
    in ``restart``): a restart in flight is stopped once it has started, one waiting out a backoff is called
    off. Returns once the container's monitor has ended."""
    record = record_user_stop(engine, refresh(engine, engine.db.container(ref)).id)
    opts = CreateOptions.from_json(record.config["options"])
    grace = opts.stop_timeout if timeout is None else timeout
    runtime = engine.runtime(record.runtime)
    engine.close()
    if record.state in ACTIVE:
        # A created container has run nothing yet, so there is nothing to stop gracefully.
        stopped = False
        if grace > 0 and record.state != CREATED:
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, signal_name(record.config["stop_signal"]))
            stopped = wait_socket(engine, record, grace)
        if not stopped:
            with contextlib.suppress(RuntimeFailure):
                runtime.kill(record.id, "KILL")
            wait_socket(engine, record, None)
        container_event(engine.config, record, "stop")
    elif restart_pending(record):
        wait_socket(engine, record, None)
    current = current_record(engine, record.id)
    return record if current is None else refresh(engine, current)


def still_active(record: ContainerRecord) -> InvalidState:
    """The refusal to remove an active container without force (dockerd's words, which clients
    such as docker-py's tests look for)."""
    return InvalidState(
        f"container {record.name} is {record.state}: stop the container before removing or force remove"
    )


def record_user_stop(
    engine: Engine, cid: str, refuse_active: bool = False, refuse_restarting: bool = False
) -> ContainerRecord:
    """Record a user's stop under the container's lock, before anything else (the protocol in
    ``restart``); the container as it is then. With ``refuse_active``, an active container is
    refused instead; with ``refuse_restarting``, one waiting out a restart backoff too (told
    here, under the lock, where a record read before may be out of date)."""
    with container_lock(engine, cid):
        record = engine.db.container(cid)
        if refuse_active and record.state in ACTIVE:
            raise still_active(record)
        if refuse_restarting and restart_pending(record):
            raise InvalidState(f"container {record.name} is restarting")
        engine.db.update_container(cid, stopped_by_user=True)
    return record


def wait_container(engine: Engine, ref: str) -> int:
    """Block until the container exits; its exit code (-1 if it never ran)."""
    record = refresh(engine, engine.db.container(ref))
    if record.state in ACTIVE:
        engine.close()
        wait_socket(engine, record, None, until_ended=False)
        if current_record(engine, record.id) is None:
            return -1
        record = refresh(engine, engine.db.container(record.id))
    return record.exit_code if record.exit_code is not None else -1


def restart_container(engine: Engine, ref: str, timeout: float | None = None) -> None:
    """Stop (if running), then start."""
    record = stop_container(engine, ref, timeout)
    start_container(engine, record.id)
    container_event(engine.config, record, "restart")
