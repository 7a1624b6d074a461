"""A pod's lifecycle verbs: ``pod start``, ``stop``, ``restart``, ``kill``, ``pause``, ``unpause``.

Each acts on the pod's containers through the container verbs: the infra starts first and stops
last, because the others live in its namespaces.
"""

from __future__ import annotations

from berth.engine.containers.lock import container_lock
from berth.engine.containers.pause import pause_container, unpause_container
from berth.engine.containers.pod_member import is_infra
from berth.engine.containers.remove import remove_container
from berth.engine.containers.start import start_container
from berth.engine.containers.state import refresh, restart_pending
from berth.engine.containers.stop import kill_container, stop_container, wait_container
from berth.engine.engine import Engine
from berth.engine.event_log import object_event
from berth.engine.metadata import ACTIVE, PAUSED, RUNNING, ContainerRecord, PodRecord
from berth.engine.options import CreateOptions
from berth.engine.pods.status import infra_last, pod_containers
from berth.errors import BerthError, InvalidState

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable


def _init_mode(record: ContainerRecord) -> str:
    return CreateOptions.from_json(record.config["options"]).init_ctr


def _start_unless_active(engine: Engine, record: ContainerRecord) -> None:
    # Under the container's lock, as a member's start starts the infra: one start wins, no race.
    with container_lock(engine, record.id):
        if refresh(engine, engine.db.container(record.id)).state not in ACTIVE:
            start_container(engine, record.id)


def start_pod(engine: Engine, ref: str) -> PodRecord:
    """Start the infra, then the init containers in creation order, each run to completion (a
    non-zero exit raises ``BerthError`` naming it; ``once`` ones are removed after they succeed),
    then the other containers."""
    pod = engine.db.pod(ref)
    members = pod_containers(engine, pod)
    for record in members:
        if is_infra(record):
            _start_unless_active(engine, record)
    for record in members:
        mode = _init_mode(record)
        if not mode:
            continue
        start_container(engine, record.id)
        code = wait_container(engine, record.id)
        if code != 0:
            raise BerthError(f"init container {record.name} of pod {pod.name} exited with code {code}")
        if mode == "once":
            remove_container(engine, record.id)
    for record in members:
        if not is_infra(record) and not _init_mode(record):
            _start_unless_active(engine, record)
    object_event(engine.config, "pod", "start", pod.name, pod.id)
    return engine.db.pod(pod.id)


def stop_pod(engine: Engine, ref: str, timeout: int | None = None) -> PodRecord:
    """Stop the pod's containers (each with its stop signal, SIGKILL after ``timeout`` seconds or
    its own), the infra last. A stop is a user's: restart policies leave them stopped."""
    pod = engine.db.pod(ref)
    for record in infra_last(pod_containers(engine, pod)):
        if record.state in ACTIVE or restart_pending(record):
            stop_container(engine, record.id, timeout)
    object_event(engine.config, "pod", "stop", pod.name, pod.id)
    return pod


def restart_pod(engine: Engine, ref: str) -> PodRecord:
    """Stop the pod, then start it."""
    stop_pod(engine, ref)
    pod = start_pod(engine, ref)
    object_event(engine.config, "pod", "restart", pod.name, pod.id)
    return pod


def kill_pod(engine: Engine, ref: str, signal: str = "KILL") -> PodRecord:
    """Send ``signal`` to every running container of the pod, the infra last."""
    pod = engine.db.pod(ref)
    running = [c for c in infra_last(pod_containers(engine, pod)) if c.state in ACTIVE]
    if not running:
        raise InvalidState(f"pod {pod.name} has no running container to kill")
    for record in running:
        kill_container(engine, record.id, signal)
    object_event(engine.config, "pod", "kill", pod.name, pod.id)
    return pod


def _each_in_state(
    engine: Engine, ref: str, state: str, act: Callable[[Engine, str], object], refusal: str, event: str
) -> PodRecord:
    pod = engine.db.pod(ref)
    chosen = [c for c in pod_containers(engine, pod) if c.state == state]
    if not chosen:
        raise InvalidState(f"pod {pod.name} has no {refusal}")
    for record in chosen:
        act(engine, record.id)
    object_event(engine.config, "pod", event, pod.name, pod.id)
    return pod


def pause_pod(engine: Engine, ref: str) -> PodRecord:
    """Freeze every running container of the pod."""
    return _each_in_state(engine, ref, RUNNING, pause_container, "running container to pause", "pause")


def unpause_pod(engine: Engine, ref: str) -> PodRecord:
    """Thaw every paused container of the pod."""
    return _each_in_state(engine, ref, PAUSED, unpause_container, "paused container", "unpause")
