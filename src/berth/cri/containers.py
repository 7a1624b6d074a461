"""Containers: CreateContainer, StartContainer, StopContainer, RemoveContainer, ContainerStatus,
ListContainers, UpdateContainerResources, ReopenContainerLog.

A CRI container is an engine container made in the sandbox's pod (``CreateOptions.pod``); its
output goes to the engine's CRI-format log (the monitor writes it), and ``log_path`` is a symbolic
link to that file, so the kubelet and crictl read it where they asked for it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, NamedTuple

from berth.cri.proto import api_pb2 as pb
from berth.cri.sandboxes import find_sandbox
from berth.cri.service import (
    RECORD_KEY,
    Services,
    cri_record,
    find_made,
    matches_labels,
    nanoseconds,
    require,
    unless_gone,
    user_annotations,
)
from berth.cri.snapshot import Listing
from berth.engine.engine import Engine
from berth.engine.metadata import CONFIGURED, CREATED, EXITED, PAUSED, RUNNING, STOPPED, ContainerRecord
from berth.errors import InvalidArgument, NotFound

# api.proto ContainerState, from the engine's states (podman's words).
_STATES = {
    CONFIGURED: "CONTAINER_CREATED",
    CREATED: "CONTAINER_CREATED",
    RUNNING: "CONTAINER_RUNNING",
    PAUSED: "CONTAINER_RUNNING",
    STOPPED: "CONTAINER_EXITED",
    EXITED: "CONTAINER_EXITED",
}


def create_container(services: Services, request: Any) -> Any:
    """Record an engine container in the sandbox's pod (not started), then ask NRI's plugins
    (meanwhile it is not shown; refused, it is removed). A sandbox that is not ready (stopped) is
    never used again: the kubelet makes a new one."""
    from berth.cri.images import image_name
    from berth.cri.nri import hooks
    from berth.cri.sandboxes import sandbox_ready
    from berth.engine.containers.create import create_container as engine_create
    from berth.engine.containers.remove import remove_container as engine_remove
    from berth.errors import InvalidState

    config = request.config
    meta = config.metadata
    require(request.pod_sandbox_id, "pod_sandbox_id")
    require(meta.name, "config.metadata.name")
    require(config.image.image, "config.image.image")
    with services.engine() as engine:
        pod = find_sandbox(services, engine, request.pod_sandbox_id)
        if not sandbox_ready(engine, pod):
            raise InvalidState(f"pod sandbox {pod.id} is not ready")
        sandbox = cri_record(pod.annotations) or {}
        log_path = _log_path(sandbox.get("log_directory", ""), config.log_path)
        volumes, mounts = _mounts(engine, config.mounts)
        named = image_name(engine.config, config.image.image)
        record = {
            "kind": "container",
            "metadata": {"name": meta.name, "attempt": meta.attempt},
            "sandbox_id": pod.id,
            "log_path": log_path,
            "image": config.image.image,
            # ContainerStatus shows a name, as containerd (the image's first) and CRI-O (the
            # user's) do: the kubelet asks for the image by id, and shows this in the pod's status.
            "image_name": config.image.user_specified_image or named,
            "mounts": mounts,
        }
        handler = sandbox.get("runtime_handler", "")
        runtime = services.config.runtime_for(handler)
        features = services.handler_features().get(handler, {})
        if any(m.recursive_read_only for m in config.mounts) and not features.get(
            "recursive_read_only_mounts"
        ):
            raise InvalidArgument(
                f"runtime handler {handler!r} ({runtime}) has no recursive read-only mounts"
            )
        opts = _create_options(config, pod.id, pod.name, runtime, record)
        opts.volumes = volumes
        opts.sysctl = [f"{k}={v}" for k, v in sandbox.get("sysctls", {}).items()]
        opts.uidmap = sandbox.get("idmaps", {}).get("uidmap", [])
        opts.gidmap = sandbox.get("idmaps", {}).get("gidmap", [])
        opts.image = named
        opts.log_path = log_path
        created = engine_create(engine, opts)
        with services.hiding(created.id):
            try:
                hooks.create_container(services, engine, created)
            except BaseException:
                engine_remove(engine, created.id, force=True)
                raise
    return pb.CreateContainerResponse(container_id=created.id)


def _create_options(config: Any, pod_id: str, pod_name: str, runtime: str, record: dict[str, Any]) -> Any:
    from berth.cri import security
    from berth.engine.options import CreateOptions

    resources = _valid_resources(config.linux.resources, "linux.resources")
    return CreateOptions(
        image=config.image.image,
        name=f"{pod_name}_{config.metadata.name}_{config.metadata.attempt}",
        # Kubernetes' command replaces the image's entrypoint (and its cmd); args replace the cmd.
        entrypoint=list(config.command) or None,
        command=list(config.args),
        env=[_env(kv) for kv in config.envs],
        devices=security.devices(config),
        workdir=config.working_dir,
        **security.security_options(config.linux.security_context),
        oom_score_adj=resources.oom_score_adj or None,
        **_limits(resources),
        interactive=config.stdin,
        tty=config.tty,
        runtime=runtime,
        labels=dict(config.labels),
        annotations={**config.annotations, RECORD_KEY: json.dumps(record)},
        pull="never",  # the kubelet pulls through the ImageService first
        pod=pod_id,
    )


def _env(pair: Any) -> str:
    """``KEY=VALUE``; the CRI sends values as bytes, config.json wants UTF-8 text."""
    try:
        return f"{pair.key}={pair.value.decode()}"
    except UnicodeDecodeError:
        raise InvalidArgument(f"envs: the value of {pair.key} is not UTF-8") from None


def _valid_resources(resources: Any, field: str) -> Any:
    """``resources`` (api.proto LinuxContainerResources) if its values can be limits; InvalidArgument
    naming the field otherwise (runtime-spec config-linux.md#memory, #cpu: -1 is "no limit")."""
    for name in ("memory_limit_in_bytes", "memory_swap_limit_in_bytes", "cpu_shares"):
        if getattr(resources, name) < 0:
            raise InvalidArgument(f"{field}.{name} {getattr(resources, name)} is negative")
    if resources.cpu_quota < -1:
        raise InvalidArgument(f"{field}.cpu_quota {resources.cpu_quota} is negative")
    if resources.cpu_period and not 1000 <= resources.cpu_period <= 1_000_000:
        raise InvalidArgument(f"{field}.cpu_period {resources.cpu_period} is not within 1000-1000000 µs")
    if not -1000 <= resources.oom_score_adj <= 1000:
        raise InvalidArgument(f"{field}.oom_score_adj {resources.oom_score_adj} is not within -1000-1000")
    return resources


def _limits(resources: Any) -> dict[str, Any]:
    """The engine's options for api.proto LinuxContainerResources: the memory limit (with no swap
    beyond it, the engine's default and what the kubelet asks unless its NodeSwap gate is on), a
    CFS quota as ``cpus``, the CPU weight (the kubelet's CPU request as ``cpu_shares``) and the CPU
    and memory nodes (its CPU manager's)."""
    memory = resources.memory_limit_in_bytes
    return {
        "memory": str(memory) if memory > 0 else "",
        "cpus": _cpus(resources),
        "cpu_shares": resources.cpu_shares,
        "cpuset_cpus": resources.cpuset_cpus,
        "cpuset_mems": resources.cpuset_mems,
    }


def _cpus(resources: Any) -> str:
    """``--cpus`` from a CFS quota and period (runtime-spec config-linux.md#cpu); "" for no limit."""
    if resources.cpu_quota <= 0:
        return ""
    period = resources.cpu_period or 100_000
    return f"{resources.cpu_quota / period:.3f}"


def _log_path(directory: str, path: str) -> str:
    """The CRI's log path: relative to the sandbox's log directory (api.proto ContainerConfig.log_path)."""
    if not path:
        return ""
    if not directory and not os.path.isabs(path):
        raise InvalidArgument(f"log_path {path!r} is relative and the sandbox has no log_directory")
    return os.path.join(directory, path)


def start_container(services: Services, request: Any) -> Any:
    """Start the container (and its pod's infra, if it stopped), NRI's plugins asked first; return
    once the event streams told of it (``berth.cri.delivery``)."""
    from berth.cri.nri import hooks

    with services.engine() as engine:
        record = find_container(services, engine, request.container_id)
        started = hooks.start_container(services, engine, record)
    since = time.time()
    services.starter.start(record.id)
    started()
    services.deliveries.wait(record.id, "CONTAINER_STARTED_EVENT", since, timeout=1.0, grace=0.05)
    return pb.StartContainerResponse()


def stop_container(services: Services, request: Any) -> Any:
    """Stop with the container's stop signal, SIGKILL after ``timeout`` seconds; an unknown id
    succeeds, as the CRI asks."""
    from berth.cri.nri import hooks
    from berth.engine.containers.state import refresh
    from berth.engine.containers.stop import stop_container as engine_stop

    if request.timeout < 0:
        raise InvalidArgument(f"timeout {request.timeout} is negative")

    def stop(engine: Engine, record: ContainerRecord) -> None:
        engine_stop(engine, record.id, float(request.timeout))
        hooks.container_stopped(services, engine, refresh(engine, engine.db.container(record.id)))

    unless_gone(services, request.container_id, "container_id", _find, stop)
    return pb.StopContainerResponse()


def remove_container(services: Services, request: Any) -> Any:
    """Remove the container, running or not; an unknown id succeeds. Its log at ``log_path`` stays:
    the kubelet removes the log files it rotates."""
    from berth.cri.nri import hooks
    from berth.engine.containers.remove import remove_container as engine_remove

    def remove(engine: Engine, record: ContainerRecord) -> None:
        if record.state in (RUNNING, PAUSED, STOPPED, EXITED):
            hooks.container_stopped(services, engine, record)  # (once: not again if it was)
        tell = hooks.remove_container(services, engine, record)
        engine_remove(engine, record.id, force=True)
        tell()

    unless_gone(services, request.container_id, "container_id", _find, remove)
    return pb.RemoveContainerResponse()


def container_status(services: Services, request: Any) -> Any:
    """The container's state, times, exit code, image and mounts."""
    from berth.engine.containers.state import refresh

    with services.engine() as engine:
        record = refresh(engine, find_container(services, engine, request.container_id))
    return pb.ContainerStatusResponse(status=_status(engine, record))


def container_statuses(engine: Engine, sandbox_id: str) -> list[Any]:
    """The api.proto ContainerStatus of every CRI container of the sandbox (not its infra) now."""
    from berth.engine.containers.state import refresh

    return [
        _status(engine, refresh(engine, r))
        for r in engine.db.containers()
        if r.pod == sandbox_id and cri_of(r) is not None
    ]


class Listed(NamedTuple):
    """A container as ListContainers' filters see it."""

    id: str
    sandbox_id: str
    state: int  # api.proto ContainerState
    labels: dict[str, str]


def list_containers(services: Services, request: Any) -> bytes:
    """The CRI's containers (never the sandboxes' infra), filtered by id prefix, state, sandbox and
    labels, as the encoded ListContainersResponse; from memory while nothing changed
    (``berth.cri.snapshot``). The kubelet's relist sends an empty filter: the whole answer."""
    return services.listed(_every_container, request.filter, _selected)


def _every_container(engine: Engine) -> tuple[Listing[Listed], list[int]]:
    """Every CRI container now, and the monitors of those that have one."""
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import ACTIVE

    listed, monitors = [], []
    for record in engine.db.containers():
        cri = cri_of(record)
        if cri is None:
            continue
        record = refresh(engine, record)
        if record.state in ACTIVE and record.monitor_pid > 0:
            monitors.append(record.monitor_pid)
        options = options_of(record)
        message = pb.Container(
            id=record.id,
            pod_sandbox_id=cri["sandbox_id"],
            metadata=pb.ContainerMetadata(**cri["metadata"]),
            image=pb.ImageSpec(image=cri["image"]),
            image_ref=record.image_id,
            image_id=record.image_id,
            state=state_name(record),
            created_at=nanoseconds(record.created_at),
            labels=options["labels"],
            annotations=user_annotations(options["annotations"]),
        )
        listed.append((Listed(record.id, cri["sandbox_id"], message.state, options["labels"]), message))
    return Listing(pb.ListContainersResponse, "containers", listed), monitors


def _selected(wanted: Any, container: Listed) -> bool:
    if wanted.id and not container.id.startswith(wanted.id):
        return False
    if wanted.pod_sandbox_id and not container.sandbox_id.startswith(wanted.pod_sandbox_id):
        return False
    if wanted.HasField("state") and wanted.state.state != container.state:
        return False
    return matches_labels(container.labels, wanted.label_selector)


def update_container_resources(services: Services, request: Any) -> Any:
    """New CPU and memory limits for a created or running container."""
    from berth.cri.nri import hooks
    from berth.engine.containers.update import update_container

    resources = _valid_resources(request.linux, "linux")
    with services.engine() as engine:
        record = find_container(services, engine, request.container_id)
        updated = hooks.update_container(services, engine, record, _nri_resources(resources))
        update_container(engine, record.id, **_limits(resources))
    updated()
    return pb.UpdateContainerResourcesResponse()


def _nri_resources(resources: Any) -> Any:
    """The CRI's LinuxContainerResources as NRI's LinuxResources (what UpdateContainer tells)."""
    from berth.cri.proto import nri_pb2

    nri = nri_pb2.LinuxResources(
        cpu=nri_pb2.LinuxCPU(cpus=resources.cpuset_cpus, mems=resources.cpuset_mems),
        hugepage_limits=[
            nri_pb2.HugepageLimit(page_size=h.page_size, limit=h.limit) for h in resources.hugepage_limits
        ],
        unified=dict(resources.unified),
    )
    if resources.memory_limit_in_bytes:
        nri.memory.limit.value = resources.memory_limit_in_bytes
    for name in ("shares", "quota", "period"):
        value = getattr(resources, f"cpu_{name}")
        if value:
            getattr(nri.cpu, name).value = value
    return nri


def reopen_container_log(services: Services, request: Any) -> Any:
    """Have the monitor write the log to a new file at ``log_path`` (the kubelet renamed the old
    one to rotate it)."""
    from berth.engine.containers.monitor import reopen_log
    from berth.engine.containers.state import refresh
    from berth.errors import InvalidState

    with services.engine() as engine:
        record = refresh(engine, find_container(services, engine, request.container_id))
        if record.state != RUNNING:
            raise InvalidState(f"container {record.id} is not running")
        if (cri_of(record) or {}).get("log_path"):
            reopen_log(engine.paths(record.id).attach_socket)
    return pb.ReopenContainerLogResponse()


def find_container(services: Services, engine: Engine, ref: str) -> ContainerRecord:
    """The CRI container ``ref`` (an id or a unique prefix of one), unless an NRI hook is still
    deciding on it; NotFound otherwise."""
    record = _find(engine, require(ref, "container_id"))
    assert record is not None
    if services.hidden(record.id):
        raise NotFound(f"container {ref!r} not found")
    return record


def _find(engine: Engine, ref: str, missing_ok: bool = False) -> ContainerRecord | None:
    made = find_made(
        engine.db.container, lambda record: cri_of(record) is not None, ref, "container", missing_ok
    )
    return made


def _spec(engine: Engine, record: ContainerRecord) -> dict[str, Any] | None:
    """The container's ``config.json`` now (None without a readable one)."""
    try:
        spec: dict[str, Any] = json.loads(engine.paths(record.id).config_json.read_bytes())
    except (OSError, ValueError):
        return None
    return spec


def _resources(spec: dict[str, Any] | None) -> Any:
    """The container's resources now, as api.proto ContainerResources: its ``config.json``'s
    ``linux.resources`` (config-linux.md#control-groups), which keeps every UpdateContainerResources
    and NRI adjustment, and its OOM score; None without a ``config.json``."""
    if spec is None:
        return None
    wanted = (spec.get("linux") or {}).get("resources") or {}
    cpu, memory = wanted.get("cpu") or {}, wanted.get("memory") or {}
    linux = pb.LinuxContainerResources(
        cpu_period=cpu.get("period", 0),
        cpu_quota=cpu.get("quota", 0),
        cpu_shares=cpu.get("shares", 0),
        cpuset_cpus=cpu.get("cpus", ""),
        cpuset_mems=cpu.get("mems", ""),
        memory_limit_in_bytes=memory.get("limit", 0),
        memory_swap_limit_in_bytes=max(memory.get("swap", 0), 0),
        oom_score_adj=(spec.get("process") or {}).get("oomScoreAdj", 0),
        hugepage_limits=[
            pb.HugepageLimit(page_size=h.get("pageSize", ""), limit=h.get("limit", 0))
            for h in wanted.get("hugepageLimits") or []
        ],
        unified=wanted.get("unified") or {},
    )
    return pb.ContainerResources(linux=linux)


def options_of(record: ContainerRecord) -> dict[str, Any]:
    """The engine's creation options of ``record`` (its labels, annotations...), as stored."""
    options: dict[str, Any] = record.config["options"]
    return options


def cri_of(record: ContainerRecord) -> dict[str, Any] | None:
    """The CRI's record of a container it made (its metadata, sandbox, log path); None otherwise."""
    found = cri_record(options_of(record)["annotations"])
    return found if found is not None and found.get("kind") == "container" else None


def state_name(record: ContainerRecord) -> str:
    """The api.proto ContainerState of ``record``."""
    return _STATES.get(record.state, "CONTAINER_UNKNOWN")


def _status(engine: Engine, record: ContainerRecord) -> Any:
    cri = cri_of(record) or {}
    options = options_of(record)
    exited = record.state in (STOPPED, EXITED)
    reason = ""
    if exited:
        reason = "OOMKilled" if record.oom_killed else ("Completed" if record.exit_code == 0 else "Error")
    spec = _spec(engine, record)  # read once: the resources and the user both come from it
    return pb.ContainerStatus(
        id=record.id,
        metadata=pb.ContainerMetadata(**cri.get("metadata", {})),
        state=state_name(record),
        created_at=nanoseconds(record.created_at),
        started_at=nanoseconds(record.started_at),
        finished_at=nanoseconds(record.finished_at) if exited else 0,
        exit_code=record.exit_code or 0 if exited else 0,
        image=pb.ImageSpec(image=cri.get("image_name") or cri.get("image", "")),
        image_ref=record.image_id,
        image_id=record.image_id,
        resources=_resources(spec),
        reason=reason,
        message=record.error,
        labels=options["labels"],
        annotations=user_annotations(options["annotations"]),
        mounts=[pb.Mount(**m) for m in cri.get("mounts", [])],
        log_path=cri.get("log_path", ""),
        user=_user(spec),
    )


def _user(spec: dict[str, Any] | None) -> Any:
    """The identity the container's process was given (config.md#user): uid, gid and every group
    it holds, its own included (api.proto ContainerUser)."""
    user = ((spec or {}).get("process") or {}).get("user")
    if user is None:
        return None
    groups = sorted({user.get("gid", 0), *user.get("additionalGids", [])})
    return pb.ContainerUser(
        linux=pb.LinuxContainerUser(
            uid=user.get("uid", 0), gid=user.get("gid", 0), supplemental_groups=groups
        )
    )


def _mounts(engine: Engine, mounts: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The engine's ``-v`` of each CRI mount, and what ContainerStatus gives back of it (api.proto
    Mount): an image volume is the image's files, read-only, reported with the image's id."""
    from berth.cri import security
    from berth.cri.images import image_volume_source

    volumes, described = [], []
    for mount in mounts:
        shown: dict[str, Any] = {
            "container_path": mount.container_path,
            "host_path": mount.host_path,
            "readonly": mount.readonly,
            "propagation": mount.propagation,
            "recursive_read_only": mount.recursive_read_only,
        }
        if mount.HasField("image") and mount.image.image:
            source, image_id = image_volume_source(engine.config, mount)
            volumes.append(f"{source}:{require(mount.container_path, 'mounts[].container_path')}:ro,rprivate")
            shown["image"] = {"image": mount.image.image, "image_ref": image_id}
            shown["image_sub_path"] = mount.image_sub_path
        else:
            volumes.append(security.volume(mount))
        described.append(shown)
    return volumes, described
