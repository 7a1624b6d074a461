"""Exec, Attach and PortForward: the RPCs that answer with a URL of the streaming server
(``berth.cri.streaming``), and the sessions served there.

The RPC checks the request (the container running, the sandbox known) and stores it; the session,
when the client comes, runs the runtime's ``exec`` with the client's streams as its stdio, relays a
monitor's attach connection, or forwards connections into the sandbox's network namespace.
"""

from __future__ import annotations

from typing import Any

from berth.cri.containers import find_container
from berth.cri.proto import api_pb2 as pb
from berth.cri.sandboxes import find_sandbox
from berth.cri.service import Services, require
from berth.cri.streaming import portforward, remotecommand
from berth.cri.streaming.server import StreamServer
from berth.cri.streaming.spdy import StreamSession
from berth.engine.metadata import RUNNING
from berth.errors import InvalidArgument, InvalidState


def stream_server(services: Services) -> StreamServer:
    """The streaming server at the settings' ``stream_address``, serving this server's sessions."""
    return StreamServer(
        services.config.stream_address,
        {
            "exec": ((remotecommand.PROTOCOL,), lambda s, p, r: _serve_exec(services, s, r)),
            "attach": ((remotecommand.PROTOCOL,), lambda s, p, r: _serve_attach(services, s, r)),
            "portforward": ((portforward.PROTOCOL,), lambda s, p, r: _serve_port_forward(services, s, r)),
        },
    )


def exec_url(services: Services, request: Any) -> Any:
    """Exec: check the container runs and the streams asked for make sense; the session's URL."""
    if not request.cmd:
        raise InvalidArgument("cmd is required")
    options = _stdio(request)
    _running(services, request.container_id)
    url = _streams(services).url_for(
        "exec", {**options, "container_id": request.container_id, "cmd": list(request.cmd)}
    )
    return pb.ExecResponse(url=url)


def attach_url(services: Services, request: Any) -> Any:
    """Attach: check the container runs; the session's URL."""
    options = _stdio(request)
    _running(services, request.container_id)
    return pb.AttachResponse(
        url=_streams(services).url_for("attach", {**options, "container_id": request.container_id})
    )


def port_forward_url(services: Services, request: Any) -> Any:
    """PortForward: check the sandbox is known; the session's URL."""
    require(request.pod_sandbox_id, "pod_sandbox_id")
    bad = [port for port in request.port if not 0 < port <= 65535]
    if bad:
        raise InvalidArgument(f"port {bad[0]} is not a port")
    with services.engine() as engine:
        pod = find_sandbox(services, engine, request.pod_sandbox_id)
    return pb.PortForwardResponse(url=_streams(services).url_for("portforward", {"pod_sandbox_id": pod.id}))


def _streams(services: Services) -> StreamServer:
    if services.streams is None:
        raise InvalidState("the streaming server is not running")
    return services.streams


def _stdio(request: Any) -> dict[str, bool]:
    # api.proto ExecRequest/AttachRequest: at least one stream; a terminal merges stderr into stdout.
    if not (request.stdin or request.stdout or request.stderr):
        raise InvalidArgument("one of stdin, stdout or stderr is required")
    if request.tty and request.stderr:
        raise InvalidArgument("tty and stderr cannot both be true")
    return {"stdin": request.stdin, "stdout": request.stdout, "stderr": request.stderr, "tty": request.tty}


def _running(services: Services, ref: str) -> None:
    from berth.engine.containers.state import refresh

    with services.engine() as engine:
        record = refresh(engine, find_container(services, engine, ref))
    if record.state != RUNNING:
        raise InvalidState(f"container {record.id} is not running")


def _serve_exec(services: Services, session: StreamSession, request: dict[str, Any]) -> None:
    from berth.engine.containers.execute import prepare_exec
    from berth.engine.containers.state import refresh

    channels = remotecommand.accept_channels(session, remotecommand.expected_channels(request))
    if channels is None:
        return
    try:
        with services.engine() as engine:
            record = refresh(engine, find_container(services, engine, request["container_id"]))
            argv, process_file = prepare_exec(engine, record, request["cmd"], tty=request["tty"])
    except Exception as err:  # the container went away meanwhile, say: the client is told why
        remotecommand.finish(channels, remotecommand.failure_json(str(err)))
        return
    try:
        code = remotecommand.run_exec(argv, channels, request["tty"])
    finally:
        process_file.unlink(missing_ok=True)
    remotecommand.finish(channels, remotecommand.status_json(code, request["cmd"]))


def _serve_attach(services: Services, session: StreamSession, request: dict[str, Any]) -> None:
    from berth.engine.containers import monitor

    channels = remotecommand.accept_channels(session, remotecommand.expected_channels(request))
    if channels is None:
        return
    with services.engine() as engine:
        path = engine.paths(find_container(services, engine, request["container_id"]).id).attach_socket
    try:
        sock = monitor.attach_client(path)
    except OSError as err:
        remotecommand.finish(channels, remotecommand.failure_json(f"cannot attach: {err}"))
        return
    with sock:
        remotecommand.run_attach(sock, channels)
    remotecommand.finish(channels, remotecommand.status_json(0, []))


def _serve_port_forward(services: Services, session: StreamSession, request: dict[str, Any]) -> None:
    from berth.engine.networks import bridge

    with services.engine() as engine:
        pod = find_sandbox(services, engine, request["pod_sandbox_id"])
        infra = engine.db.container(pod.infra_id)
        host_network = infra.config["network"] == bridge.HOST
        netns = None if host_network else engine.paths(infra.id).netns
    portforward.serve_port_forward(session, netns)
