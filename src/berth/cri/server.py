"""``berth cri serve``: the RuntimeService and ImageService on a unix socket, in the foreground.

Each RPC is a function of ``Services`` and the request, in the module of its family
(``sandboxes``, ``containers``, ``exec``, ``stats``, ``images``, ``runtime_info``); the tables below
bind them to api.proto's methods, each registered with gRPC as a plain ``(request, context)``
function (``berth.cri.service.rpc``). An RPC in no table answers UNIMPLEMENTED with its name.
Every call opens its own engine, as a ``berth`` command does, so the server keeps no state of its
own: pods and containers live in the engine's database and monitors, and outlive the server.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from berth.cri import containers, events, execute, images, metrics, runtime_info, sandboxes, stats, streams
from berth.cri.config import CriConfig, listen_path
from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services, log, rpc, rpc_stream
from berth.cri.streamed import streamed
from berth.engine.config import EngineConfig
from berth.errors import Unsupported

Handler = Callable[[Services, Any], Any]
StreamHandler = Callable[[Services, Any], Iterator[Any]]

RUNTIME_RPCS: dict[str, Handler] = {
    "Version": runtime_info.version,
    "Status": runtime_info.status,
    "RuntimeConfig": runtime_info.runtime_config,
    "UpdateRuntimeConfig": runtime_info.update_runtime_config,
    "RunPodSandbox": sandboxes.run_pod_sandbox,
    "StopPodSandbox": sandboxes.stop_pod_sandbox,
    "RemovePodSandbox": sandboxes.remove_pod_sandbox,
    "PodSandboxStatus": sandboxes.pod_sandbox_status,
    "ListPodSandbox": sandboxes.list_pod_sandbox,
    "CreateContainer": containers.create_container,
    "StartContainer": containers.start_container,
    "StopContainer": containers.stop_container,
    "RemoveContainer": containers.remove_container,
    "ContainerStatus": containers.container_status,
    "ListContainers": containers.list_containers,
    "UpdateContainerResources": containers.update_container_resources,
    "ReopenContainerLog": containers.reopen_container_log,
    "ExecSync": execute.exec_sync,
    "Exec": streams.exec_url,
    "Attach": streams.attach_url,
    "PortForward": streams.port_forward_url,
    "CheckpointContainer": execute.checkpoint_container,
    "ContainerStats": stats.container_stats,
    "ListContainerStats": stats.list_container_stats,
    "PodSandboxStats": stats.pod_sandbox_stats,
    "ListPodSandboxStats": stats.list_pod_sandbox_stats,
    "ListMetricDescriptors": metrics.list_metric_descriptors,
    "ListPodSandboxMetrics": metrics.list_pod_sandbox_metrics,
}

#: The list RPCs' streamed twins (cri-api's CRIListStreaming; ``berth.cri.streamed``).
RUNTIME_STREAMS: dict[str, StreamHandler] = {
    "StreamPodSandboxes": streamed(sandboxes.list_pod_sandbox, pb.ListPodSandboxRequest),
    "StreamContainers": streamed(containers.list_containers, pb.ListContainersRequest),
    "StreamContainerStats": streamed(stats.list_container_stats, pb.ListContainerStatsRequest),
    "StreamPodSandboxStats": streamed(stats.list_pod_sandbox_stats, pb.ListPodSandboxStatsRequest),
    "StreamPodSandboxMetrics": streamed(
        metrics.list_pod_sandbox_metrics, pb.ListPodSandboxMetricsRequest, filtered=False
    ),
}
IMAGE_STREAMS: dict[str, StreamHandler] = {
    "StreamImages": streamed(images.list_images, pb.ListImagesRequest),
}

#: The calls a kubelet makes every few seconds to read state (its relist, its stats and image
#: checks): logged at debug level, as containerd does, so that the log shows what changed.
READ_RPCS = frozenset({
    "Version", "Status", "RuntimeConfig", "PodSandboxStatus", "ListPodSandbox", "ContainerStatus",
    "ListContainers", "ContainerStats", "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats",
    "ListMetricDescriptors", "ListPodSandboxMetrics", "ListImages", "ImageStatus", "ImageFsInfo",
    *RUNTIME_STREAMS, *IMAGE_STREAMS,
})  # fmt: skip

IMAGE_RPCS: dict[str, Handler] = {
    "ListImages": images.list_images,
    "ImageStatus": images.image_status,
    "PullImage": images.pull_image,
    "RemoveImage": images.remove_image,
    "ImageFsInfo": images.image_fs_info,
}


def _add_service(
    server: grpc.Server,
    name: str,
    table: dict[str, Handler],
    streams: dict[str, StreamHandler],
    services: Services,
    extra: dict[str, Callable[..., Any]],
) -> None:
    """Serve api.proto's service ``name``: each method by its handler in ``table`` (or ``streams``,
    which answer with a stream, or ``extra``, which is registered as it is), wrapped by ``rpc``.
    An answer already encoded (bytes: the list RPCs' kept answers, ``berth.cri.snapshot.Listing``)
    is sent as it is."""
    observe = services.rpc_metrics.observe
    service = pb.DESCRIPTOR.services_by_name[name]
    handlers = {}
    for method in service.methods:
        rpc_name, quiet = method.name, method.name in READ_RPCS
        if rpc_name in extra:
            function = extra[rpc_name]
        elif method.server_streaming:
            function = rpc_stream(
                rpc_name, streams.get(rpc_name) or _unimplemented(rpc_name), services, observe, quiet
            )
        else:
            function = rpc(
                rpc_name, table.get(rpc_name) or _unimplemented(rpc_name), services, observe, quiet
            )
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[rpc_name] = make(
            function,
            request_deserializer=getattr(pb, method.input_type.name).FromString,
            response_serializer=_encoded,
        )
    server.add_registered_method_handlers(service.full_name, handlers)


def _unimplemented(name: str) -> Handler:
    """The handler of an RPC of api.proto that Berth does not serve."""

    def refuse(services: Services, request: Any) -> Any:
        raise Unsupported(f"{name} is not implemented by Berth")

    return refuse


def _encoded(answer: Any) -> bytes:
    return answer if isinstance(answer, bytes) else answer.SerializeToString()


def _container_events(services: Services) -> Callable[..., Any]:
    """GetContainerEvents, streamed: its events until the client cancels (logged at the end)."""

    def GetContainerEvents(request: Any, context: grpc.ServicerContext) -> Any:
        log.info("rpc=GetContainerEvents msg=streaming")
        yield from events.get_container_events(services, request, context.is_active)
        log.info("rpc=GetContainerEvents msg=ended")

    return GetContainerEvents


def _start_nri(config: CriConfig, services: Services, stopping: threading.Event) -> None:
    """NRI's socket at ``nri_socket`` (none without it), and the thread that tells its plugins of
    containers that stop by themselves."""
    if not config.nri_socket:
        return
    from importlib.metadata import version

    from berth.cri.nri import hooks
    from berth.cri.nri.adaptation import Nri

    services.nri = Nri(
        config.nri_socket,
        "berth",
        version("berth"),
        lambda: hooks.snapshot(services),
        lambda updates, evictions: hooks.apply_updates(services, updates, evictions),
    )
    services.nri.start()
    watcher = threading.Thread(
        target=hooks.watch_exits,
        args=(services, lambda: not stopping.is_set()),
        name="nri-exits",
        daemon=True,
    )
    watcher.start()


def _metrics_server(config: CriConfig, services: Services) -> Any:
    """Prometheus ``/metrics`` at ``metrics_address``, started; None when that is not set."""
    if not config.metrics_address:
        return None
    from berth.cri.prometheus import MetricsServer

    server = MetricsServer(config.metrics_address, services)
    server.start()
    return server


def _release_half_made(services: Services) -> None:
    """Release what a server killed inside RunPodSandbox or CreateContainer left that no record
    names: a container root prepared before its container was recorded (the engine's stray roots,
    as ``berth system prune`` releases them). What was recorded is listed (a sandbox whose infra
    never ran is NOTREADY) and RemovePodSandbox undoes it, as the kubelet's collector calls it."""
    from berth.engine.images.store import stray_roots

    with services.engine() as engine:
        stray_roots(engine)


def serve(engine_config: EngineConfig, config: CriConfig, workers: int = 16, log_level: str = "info") -> int:
    """Serve until SIGTERM or SIGINT; then finish the calls in flight (up to 10 s) and remove the
    socket. Returns the exit status. ``log_level`` "debug" logs every call, "info" those of
    ``READ_RPCS`` only when they fail."""
    level = logging.DEBUG if log_level == "debug" else logging.INFO
    logging.basicConfig(format="time=%(asctime)s level=%(levelname)s %(message)s", level=level)
    services = Services(engine_config, config)
    _release_half_made(services)
    path = listen_path(config.listen)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a previous server's socket, left by SIGKILL
    server = grpc.server(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cri"))
    events_stream = {"GetContainerEvents": _container_events(services)}
    _add_service(server, "RuntimeService", RUNTIME_RPCS, RUNTIME_STREAMS, services, events_stream)
    _add_service(server, "ImageService", IMAGE_RPCS, IMAGE_STREAMS, services, {})
    server.add_insecure_port(config.listen)
    services.streams = streams.stream_server(services)
    services.streams.start()
    metrics_server = _metrics_server(config, services)
    stopping = threading.Event()
    _start_nri(config, services, stopping)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.set())
    server.start()
    log.info(
        "msg=serving listen=%s streams=%s metrics=%s nri=%s root=%s runroot=%s",
        config.listen,
        services.streams.base_url,
        metrics_server.url if metrics_server else "none",
        config.nri_socket or "none",
        engine_config.root,
        engine_config.runroot,
    )
    stopping.wait()
    log.info("msg=stopping")
    server.stop(grace=10).wait()
    services.streams.stop()
    if metrics_server is not None:
        metrics_server.stop()
    if services.nri is not None:
        services.nri.stop()
    services.starter.close()
    services.close()
    path.unlink(missing_ok=True)
    log.info("msg=stopped")
    return 0
