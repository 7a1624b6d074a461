"""Cleanup after a container's exit: record it, undo ``start``'s setup, and remove a ``--rm`` container.

Exactly one party records an exit: the monitor, through ``cleanup_container``. Commands that find
a container whose monitor died reconcile it (``state.refresh``), which cleans up the same way.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from berth.engine.containers.lock import container_lock
from berth.engine.containers.network_setup import refresh_peer_hosts, teardown_network
from berth.engine.containers.restart_policy import restart_delay
from berth.engine.engine import ContainerPaths, Engine, container_cgroup_path
from berth.engine.event_log import container_event
from berth.engine.metadata import ACTIVE, CONFIGURED, EXITED, ContainerRecord
from berth.engine.options import CreateOptions
from berth.engine.runtime import OCIRuntime
from berth.errors import BerthError, NotFound
from berth.fsutil import remove_tree
from berth.spec.records import replace


def release_image(engine: Engine, opts: CreateOptions, cid: str) -> None:
    """Unmount and release the root made from the container's image (none for ``--rootfs``)."""
    if opts.image:
        from berth.engine.images.store import release_rootfs

        release_rootfs(engine, cid)


def oom_killed(cgroup: str) -> bool:
    """Whether the kernel's OOM killer killed a process of the memory cgroup at ``cgroup`` (a path
    below the hierarchies' mount points, as ``container_cgroup_path`` gives it)."""
    path = cgroup.lstrip("/")
    for candidate in (
        Path("/sys/fs/cgroup/memory", path, "memory.oom_control"),
        Path("/sys/fs/cgroup", path, "memory.events"),
    ):
        try:
            text = candidate.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
    return False


def delete_quietly(runtime: OCIRuntime, cid: str) -> None:
    """The runtime's ``delete --force`` of the container, whose failure leaves nothing to do."""
    with contextlib.suppress(BerthError):
        runtime.delete(cid, force=True)


class RuntimeDeletion:
    """The runtime's delete of a container whose process ended, its process started the moment
    this is made, and the OOM verdict read just before (the delete removes the cgroup that holds it).

    The monitor makes one as soon as its container exits, before it takes the container's lock and
    opens the database: the delete needs neither (the runtime keeps its own state) and is the
    slowest step of a cleanup, so ``cleanup_container`` finds it under way or done. The runtime is
    started from the caller's thread: a thread of its own would first wait for the interpreter's
    lock while the monitor records the exit.
    """

    def __init__(self, runtime: OCIRuntime, cid: str, cgroup: str) -> None:
        self.oom_killed = oom_killed(cgroup)
        self._wait: Callable[[], None] | None = None
        with contextlib.suppress(OSError):  # no runtime binary: nothing of it to delete
            self._wait = runtime.begin_delete(cid, force=True)

    def join(self) -> None:
        """Wait for the delete to end; its failure leaves nothing to do."""
        wait, self._wait = self._wait, None
        if wait is not None:
            with contextlib.suppress(BerthError):
                wait()


def cleanup_container(
    engine: Engine,
    cid: str,
    exit_code: int | None,
    keep_socket: bool = False,
    deletion: RuntimeDeletion | None = None,
) -> None:
    """Record the exit and undo ``start``'s setup; remove the container if it was run with ``--rm``.
    With ``keep_socket`` (the monitor's own call) the monitor's socket stays: it serves it on
    through a restart backoff. ``deletion`` is the runtime's delete if the caller began it (the
    monitor); otherwise it is begun here.

    Safe to run more than once and on a half-started container (every step checks what exists).
    """
    paths = engine.paths(cid)
    with container_lock(engine, cid):
        try:
            record = engine.db.container(cid)
        except NotFound:
            if deletion is not None:
                deletion.join()
            return
        opts = CreateOptions.from_json(record.config["options"])
        removing = opts.remove and exit_code is not None
        died = exit_code is not None and record.state in ACTIVE  # not a second cleanup of one exit
        if died:
            container_event(engine.config, record, "died", exit_code)
        # The runtime's delete, CNI's DEL and, for a container being removed, removing its files
        # and root are independent (the runtime keeps its own state, the config included, and
        # touches neither on delete): run them side by side.
        if deletion is None:
            cgroup = container_cgroup_path(engine.config.cgroup_parent, record)
            deletion = RuntimeDeletion(engine.runtime(record.runtime), cid, cgroup)
        try:
            teardown_network(engine, record)
            if removing:
                remove_files(engine, record)
        finally:
            deletion.join()
        if died:
            container_event(engine.config, record, "cleanup")
        if removing:
            engine.db.remove_container(cid)
            container_event(engine.config, record, "remove")
            for network in record.networks:
                refresh_peer_hosts(engine, network)  # the others no longer list this one
            remove_anonymous_volumes(engine, record)
            return
        _clear_rundir(paths, keep=paths.attach_socket if keep_socket else None)
        state = EXITED if record.state != CONFIGURED or exit_code is not None else CONFIGURED
        code = exit_code if exit_code is not None else record.exit_code
        finished = time.time() if exit_code is not None else record.finished_at
        # The monitor whose restart policy will start the container again marks the record as its
        # own in this same update, so no reader ever sees an exit with no restart pending between.
        ended = replace(record, state=state, exit_code=code, finished_at=finished)
        restarting = keep_socket and restart_delay(ended) is not None
        engine.db.update_container(
            cid,
            state=state,
            exit_code=code,
            oom_killed=deletion.oom_killed,
            finished_at=finished,
            pid=0,
            monitor_pid=os.getpid() if restarting else 0,
            networks={},
        )
        for network in record.networks:
            refresh_peer_hosts(engine, network)  # the others no longer list this one


def _clear_rundir(paths: ContainerPaths, keep: Path | None) -> None:
    """Remove the run directory, or everything in it but ``keep``."""
    if keep is None:
        remove_tree(paths.rundir)
        return
    with contextlib.suppress(FileNotFoundError), os.scandir(paths.rundir) as entries:
        for entry in entries:
            if entry.path == str(keep):
                continue
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def remove_files(engine: Engine, record: ContainerRecord) -> None:
    """Remove the container's files (bundle, run directory, lock) and release its root."""
    paths = engine.paths(record.id)
    remove_tree(paths.userdata)
    remove_tree(paths.rundir)
    paths.lock.unlink(missing_ok=True)
    release_image(engine, CreateOptions.from_json(record.config["options"]), record.id)


def remove_anonymous_volumes(engine: Engine, record: ContainerRecord) -> None:
    """Remove the volumes made for ``record`` alone (``-v /path``, image volumes) that no other
    container mounts (podman's ``rm -v`` and ``run --rm``)."""
    from berth.engine.volumes.local import remove_volume, volume_users

    for name in record.config.get("anonymous_volumes", []):
        with contextlib.suppress(NotFound):
            if not volume_users(engine, name):
                remove_volume(engine, name)
