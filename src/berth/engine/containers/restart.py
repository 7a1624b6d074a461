"""The restart policy at work in the monitor of the run that ended, and how a user's stop wins over it."""

from __future__ import annotations

import os

from berth.engine.containers.cleanup import RuntimeDeletion, cleanup_container
from berth.engine.containers.lock import container_lock
from berth.engine.containers.restart_policy import restart_delay
from berth.engine.containers.state import current_record
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.errors import BerthError
from berth.fsutil import remove_tree

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# A user's stop wins over the restart policy. The policy runs in the monitor of the run that
# ended; stop, kill (with a signal that ends the container) and rm run in the user's command. The
# protocol between them:
#
# 1. The user's command records its intent (``stopped_by_user``) under the container's lock before
#    it does anything else, and reads the container's state in the same locked section.
# 2. The monitor records the exit and decides on a restart in one locked section. If it will
#    restart, it marks the record (``monitor_pid`` is its own pid while the state is ``exited``:
#    ``restart_pending``) and keeps serving its socket through the backoff.
# 3. When the backoff is over, or a client connects to its socket, the monitor checks again under
#    the lock (the container still exists, no user stopped or started it, the policy still wants
#    it) and starts the container without letting go of the lock in between; otherwise it gives
#    up, clears the mark and its run directory, and ends.
# 4. After its locked section, the user's command therefore sees one of two things. The container
#    is active: a run that began before the intent was recorded, which it signals; that run's
#    monitor finds the intent when the run ends and starts nothing. Or it is not: then no restart
#    can begin any more, and a monitor still waiting out a backoff is woken by connecting to its
#    socket, finds the intent and ends. Either way the command waits for that monitor to end (its
#    socket closes) before it returns, so nothing of the container runs afterwards.


def monitor_exit(config: Any, cid: str, code: int, deletion: RuntimeDeletion) -> float | None:
    """Runs in the monitor once the container's init exited and the runtime's ``deletion`` of it
    began: record the exit, tear down, and decide on a restart; the seconds to wait before it, or
    None."""
    with Engine(config) as engine, container_lock(engine, cid):
        cleanup_container(engine, cid, code, keep_socket=True, deletion=deletion)
        record = current_record(engine, cid)
        delay = restart_delay(record)  # cleanup_container marked the record if it is not None
        if delay is None:
            _end_restart_wait(engine, cid, record)
        if record is not None and record.pod:
            from berth.engine.containers.pod_member import is_infra, stop_members_of_dead_infra

            if is_infra(record):
                stop_members_of_dead_infra(engine, record)
        return delay


def monitor_restart(config: Any, cid: str, due: bool, start: Callable[[Engine, str], object]) -> bool:
    """Runs in the monitor during the restart backoff, when it is over (``due``) or a client woke
    it: start the container (with ``start``, ``start_container``) if the policy still wants it and
    it is time; whether to wait on."""
    with Engine(config) as engine, container_lock(engine, cid):
        record = current_record(engine, cid)
        if record is not None and record.monitor_pid != os.getpid():
            return False  # a user's start took the container over meanwhile
        if restart_delay(record) is None:
            _end_restart_wait(engine, cid, record)
            return False
        if not due or record is None:
            return True
        engine.db.update_container(cid, restart_count=record.restart_count + 1)
        try:
            start(engine, cid)
        except BerthError:
            # start_container recorded the error; the policy tries no more
            _end_restart_wait(engine, cid, current_record(engine, cid))
        return False


def _end_restart_wait(engine: Engine, cid: str, record: ContainerRecord | None) -> None:
    """The monitor will not restart the container: clear its mark and the run directory, unless a
    user's start has taken both over. Called under the container's lock."""
    if record is not None:
        if record.state in ACTIVE:
            return
        engine.db.update_container(cid, monitor_pid=0)
    remove_tree(engine.paths(cid).rundir)
