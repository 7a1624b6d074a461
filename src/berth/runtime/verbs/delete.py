"""``delete``: destroy a stopped container, or with ``--force`` any container (runtime.md#delete)."""

from __future__ import annotations

import os

from berth.errors import InvalidState, NotFound
from berth.runtime import container, hooks, jsontext
from berth.runtime.container import Container
from berth.runtime.linux.cgroups import load_manager
from berth.runtime.log import warn
from berth.spec.runtime_config import RuntimeConfig, parse_config


def delete(root: str, container_id: str, force: bool = False) -> None:
    """Delete the container ``container_id`` under ``root``."""
    try:
        c = container.load(root, container_id)
    except NotFound:
        if force:
            return  # runc: deleting a missing container with --force succeeds
        raise
    status = c.status()
    # runc also deletes a created (never started) container without --force, by killing its init.
    if status in (container.RUNNING, container.PAUSED, container.CREATING) and not force:
        raise InvalidState(f"cannot delete container {c.id!r} that is {status} (use --force)")
    destroy(c)


def destroy(c: Container, config: RuntimeConfig | None = None) -> None:
    """Kill what is left, remove the cgroup, run poststop hooks, drop the state (lifecycle 12-13).
    ``config``: ``c.config`` already parsed, if the caller has it."""
    manager = load_manager(c.cgroup) if c.cgroup else None
    if c.signal(9):
        if manager is not None and manager.is_frozen():
            manager.thaw()
        container.wait_gone(c.pid, c.pid_start)
    if manager is not None:
        # A container sharing the host's pid namespace keeps processes after its init dies.
        for pid in manager.pids():
            _sigkill(pid)
        manager.destroy()
    config = config or parse_config(c.config)
    if config.linux.namespace("mount") is None:
        # Without a mount namespace of its own the container's mounts are in ours (as with runc).
        from berth.runtime.linux.rootfs import unmount_under
        from berth.runtime.linux.syscalls import syscalls

        unmount_under(syscalls(), c.rootfs)
    if config.hooks.get("poststop"):
        # runtime.md#lifecycle step 13: after the destroy, so the container is stopped (no process).
        state = jsontext.dumps(c.state_document(container.STOPPED, 0))
        for line in hooks.warn_hooks("poststop", config.hooks, state):
            warn(line)
    c.remove()


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return  # gone already
