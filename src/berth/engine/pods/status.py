"""A pod's containers and its state in podman's words, read from its containers' (refreshed) states."""

from __future__ import annotations

from berth.engine.containers.pod_member import is_infra
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.metadata import (
    CONFIGURED,
    CREATED,
    EXITED,
    PAUSED,
    RUNNING,
    STOPPED,
    ContainerRecord,
    PodRecord,
)

#: podman's pod states (libpod/define/podstate.go), and "Dead" for a container in no known state.
CREATED_POD, RUNNING_POD, DEGRADED_POD, PAUSED_POD, STOPPED_POD, EXITED_POD, DEAD_POD = (
    "Created", "Running", "Degraded", "Paused", "Stopped", "Exited", "Dead",
)  # fmt: skip


def pod_containers(engine: Engine, pod: PodRecord) -> list[ContainerRecord]:
    """The pod's containers, states refreshed: the infra first, then in creation order."""
    members = [refresh(engine, c) for c in engine.db.containers() if c.pod == pod.id]
    return sorted(members, key=lambda c: (not is_infra(c), c.created_at))


def infra_last(members: list[ContainerRecord]) -> list[ContainerRecord]:
    """``members`` with the infra moved to the end: the order to stop or remove them in, as the
    others live in its namespaces."""
    return [c for c in members if not is_infra(c)] + [c for c in members if is_infra(c)]


def status_of(states: list[str]) -> str:
    """The pod's state from its containers' states, as podman reckons it: running when all run,
    degraded when some do, paused when all are, exited when all have ended, stopped when some
    have (and the rest never ran), created otherwise."""
    if not states:
        return CREATED_POD
    count = {kind: 0 for kind in ("running", "paused", "ended", "created", "unknown")}
    for state in states:
        kind = {RUNNING: "running", PAUSED: "paused", EXITED: "ended", STOPPED: "ended"}.get(state)
        count[kind or ("created" if state in (CONFIGURED, CREATED) else "unknown")] += 1
    if count["running"]:
        return RUNNING_POD if count["running"] == len(states) else DEGRADED_POD
    if count["paused"] == len(states):
        return PAUSED_POD
    if count["ended"] == len(states):
        return EXITED_POD
    if count["ended"]:
        return STOPPED_POD
    return DEAD_POD if count["unknown"] else CREATED_POD
