"""Container starts in clean processes, not in the gRPC server's.

Starting a container forks its monitor, which outlives the start. Forked from the server, a monitor
would inherit gRPC's threads (and their locks, held or not at the fork) and whatever descriptors
the server has open. Here every start runs in a worker of a process pool whose processes come from
a fork server: a fresh interpreter started by fork-and-exec, single-threaded, that forks the workers,
so a monitor is forked from a process that never ran gRPC.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

from berth.engine.config import EngineConfig

#: What the fork server imports once, so that workers start with it loaded.
_PRELOAD = ["berth.engine.containers.start", "berth.engine.engine"]


class Starter:
    """Runs ``start_container`` for the server, at most ``workers`` at once, in clean processes."""

    def __init__(self, engine_config: EngineConfig, workers: int = 4) -> None:
        self.engine_config = engine_config
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self, cid: str) -> None:
        """Start container ``cid`` (the engine's start: its monitor, its pod's infra first); its
        errors are raised here, as the engine raised them."""
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_PRELOAD)
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=_die_with_the_fork_server
                )
            pool = self._pool
        pool.submit(_start, self.engine_config, cid).result()

    def close(self) -> None:
        """Stop the workers and the fork server (the monitors they made live on)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _die_with_the_fork_server() -> None:
    """A worker ends when its parent, the fork server, does, and lets it end with the server:
    killed with SIGKILL, the server leaves no worker behind waiting on a queue only workers hold.

    The fork server exits once nothing holds its "alive" pipe but itself; multiprocessing gives each
    process it forks that pipe, which would keep it (and so the workers) alive forever. A worker
    closes its copy and asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG, not inherited:
    the monitors a worker forks outlive it)."""
    import ctypes
    import os
    import signal
    from multiprocessing import forkserver

    alive = forkserver._forkserver._forkserver_alive_fd  # type: ignore[attr-defined]
    if alive is not None:
        os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    parent = os.getppid()
    pr_set_pdeathsig = 1  # linux/prctl.h
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)  # the fork server died before the call above


def _start(engine_config: EngineConfig, cid: str) -> None:
    from berth.engine.containers.start import start_container
    from berth.engine.engine import Engine

    engine = Engine(engine_config)
    try:
        start_container(engine, cid)
    finally:
        engine.close()
