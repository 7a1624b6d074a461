"""``pod rm`` and ``pod prune``: a pod goes with its containers, its infra and its cgroup."""

from __future__ import annotations

from berth.engine.containers.remove import remove_container
from berth.engine.containers.state import restart_pending
from berth.engine.engine import Engine
from berth.engine.event_log import object_event
from berth.engine.metadata import ACTIVE
from berth.engine.pod_cgroup import remove_pod_cgroup
from berth.engine.pods.status import infra_last, pod_containers
from berth.errors import InvalidState, NotFound


def remove_pod(engine: Engine, ref: str, force: bool = False) -> str:
    """Remove the pod's containers (the infra last) with their anonymous volumes (which nothing
    could name again), its cgroup and its record; the pod's id.

    A pod with a running container is refused unless ``force`` (which stops them at once). Safe
    to run again after it was interrupted: each step finds what is left."""
    pod = engine.db.pod(ref)
    members = pod_containers(engine, pod)
    running = [c.name for c in members if c.state in ACTIVE or restart_pending(c)]
    if running and not force:
        raise InvalidState(
            f"pod {pod.name} has running containers ({', '.join(running)}): stop it first or use --force"
        )
    for record in infra_last(members):
        try:
            remove_container(engine, record.id, force=force, volumes=True)
        except NotFound:
            continue  # removed meanwhile (--rm, another command)
    remove_pod_cgroup(pod.cgroup_parent)
    engine.db.remove_pod(pod.id)
    object_event(engine.config, "pod", "remove", pod.name, pod.id)
    return pod.id


def prune_pods(engine: Engine) -> list[str]:
    """Remove every pod none of whose containers runs, and the roots that killed creates left
    unrecorded; the pods' ids."""
    from berth.engine.images.store import stray_roots

    removed = []
    for pod in engine.db.pods():
        if not any(c.state in ACTIVE or restart_pending(c) for c in pod_containers(engine, pod)):
            removed.append(remove_pod(engine, pod.id))
    stray_roots(engine)  # a member's root that a killed ``create`` (or ``kube play``) never recorded
    return removed
