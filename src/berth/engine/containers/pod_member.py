"""A container's side of its pod: what it takes from the pod when it is made, the namespaces it
joins when it starts, and what the infra's exit does to the others.

The pod itself (``berth.engine.pods``) sits above the containers; this module reads pod records
from the metadata only. Loaded only when a pod is involved, so ``berth run`` pays nothing for it.
"""

from __future__ import annotations

import json

from berth.engine.containers.lock import container_lock
from berth.engine.containers.state import refresh
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord, PodRecord
from berth.engine.networks import bridge
from berth.engine.options import CreateOptions
from berth.engine.pod_cgroup import ensure_pod_cgroup, pod_resources
from berth.engine.runtime import RuntimeFailure
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: The namespaces a pod can share (podman's ``--share``) and their runtime-spec names.
SHAREABLE = {"net": "network", "ipc": "ipc", "uts": "uts", "pid": "pid", "user": "user"}


@record
class Placement:
    """Where a new container sits in its pod: the pod, and the infra whose namespaces it joins
    (None for the infra itself, or in a pod without one)."""

    pod: PodRecord
    infra: ContainerRecord | None


def is_infra(record: ContainerRecord) -> bool:
    """Whether the container is its pod's infra container."""
    return bool(record.config["options"].get("pod_infra"))


def place(engine: Engine, opts: CreateOptions) -> Placement:
    """Find the pod ``opts`` names and check the flags a pod's container may not set."""
    pod = engine.db.pod(opts.pod)
    if opts.pod_infra or not pod.infra_id:
        return Placement(pod, None)
    for flag, value in (("--network", opts.network), ("-p", opts.publish), ("--hostname", opts.hostname)):
        if value:
            raise InvalidArgument(f"--pod and {flag} conflict: a pod's containers share its infra's")
    try:
        infra = engine.db.container(pod.infra_id)
    except NotFound:
        raise BerthError(f"pod {pod.name} has lost its infra container; remove the pod") from None
    return Placement(pod, infra)


def member_options(opts: CreateOptions, placement: Placement) -> CreateOptions:
    """``opts`` as the pod completes them: its cgroup parent, its default restart policy, and
    (joining an infra) its hostname."""
    pod = placement.pod
    changes: dict[str, Any] = {"cgroup_parent": pod.cgroup_parent}
    if opts.restart in ("", "no") and pod.config.get("restart"):
        changes["restart"] = pod.config["restart"]
    if placement.infra is not None:
        changes["hostname"] = placement.infra.config["hostname"]
    return CreateOptions.from_json({**opts.to_json(), **changes})


def prepare_start(engine: Engine, record: ContainerRecord, start: Callable[[Engine, str], object]) -> None:
    """Before the runtime runs a pod's container: the pod's cgroup with its limits, and for a
    container joining the infra, the infra started (with ``start``, ``start_container``) and its
    namespaces written into the bundle's ``config.json``: their ``/proc/<pid>/ns`` paths change
    whenever the infra starts again. Called under the container's lock."""
    pod = engine.db.pod(record.pod)
    ensure_pod_cgroup(
        pod.cgroup_parent, pod_resources(pod.config.get("cpus", ""), pod.config.get("memory", ""))
    )
    if is_infra(record) or not pod.infra_id:
        return
    with container_lock(engine, pod.infra_id):  # two members starting at once start it once
        infra = refresh(engine, engine.db.container(pod.infra_id))
        if infra.state not in ACTIVE:
            start(engine, infra.id)
            infra = engine.db.container(infra.id)
        if infra.pid <= 0:
            raise BerthError(f"the infra container of pod {pod.name} is not running")
        _join(engine, record, infra, pod.config.get("share", []))


def _join(engine: Engine, record: ContainerRecord, infra: ContainerRecord, share: list[str]) -> None:
    """Point the container's namespaces at the infra's (runtime-spec config-linux.md#namespaces:
    a ``path`` joins an existing namespace)."""
    path = engine.paths(record.id).config_json
    config = json.loads(path.read_bytes())
    wanted = {SHAREABLE[name] for name in share}
    host_network = infra.config["network"] == bridge.HOST
    namespaces = []
    for ns in config["linux"]["namespaces"]:
        kind = ns["type"]
        if kind == "network" and "network" in wanted and host_network:
            continue  # the infra is in the host's network namespace: so is the container
        if kind in wanted:
            ns = {"type": kind, "path": _namespace_path(engine, infra, kind)}
        namespaces.append(ns)
    if "network" in wanted and not host_network and not any(n["type"] == "network" for n in namespaces):
        namespaces.append({"type": "network", "path": _namespace_path(engine, infra, "network")})
    config["linux"]["namespaces"] = namespaces
    if "uts" in wanted:
        config.pop("hostname", None)  # the infra's UTS namespace already has the pod's hostname
    atomic_write(path, json.dumps(config, separators=(",", ":")).encode(), durable=False)


def _namespace_path(engine: Engine, infra: ContainerRecord, kind: str) -> str:
    if kind == "network":
        pinned = engine.paths(infra.id).netns
        if pinned.exists():
            return str(pinned)  # the namespace CNI configured, pinned while the infra runs
        kind = "net"
    return f"/proc/{infra.pid}/ns/{kind}"


def stop_members_of_dead_infra(engine: Engine, infra: ContainerRecord) -> None:
    """The infra's monitor, once it recorded the infra's exit: kill the pod's other running
    containers, whose namespaces are gone with it (not as a user's stop: a restart policy that
    wants them again starts the infra again)."""
    for member in engine.db.containers():
        if member.pod != infra.pod or member.id == infra.id or member.state not in ACTIVE:
            continue
        try:
            engine.runtime(member.runtime).kill(member.id, "KILL")
        except RuntimeFailure:
            continue  # it ended meanwhile
