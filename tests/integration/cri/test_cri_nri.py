"""NRI: a plugin (speaking ttrpc over NRI's multiplexed socket, berth.cri.nri.ttrpc's other end)
registers, is synchronized with what exists, sees the lifecycle in order, and can refuse a pod or
a container (which then is not left behind); what a hook is deciding on is not shown meanwhile."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from berth.cri.nri.ttrpc import PLUGIN_CHANNEL, RUNTIME_CHANNEL, CallFailed, Peer
from berth.cri.proto import api_pb2 as pb
from berth.cri.proto import nri_pb2
from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config, serving, wait_for, wait_state
from tests.integration.engine_cli.conftest import Berth

#: The hooks the test plugin subscribes to, by method: their nri.Event.
HOOKS = {
    "RunPodSandbox": nri_pb2.RUN_POD_SANDBOX,
    "StopPodSandbox": nri_pb2.STOP_POD_SANDBOX,
    "RemovePodSandbox": nri_pb2.REMOVE_POD_SANDBOX,
    "CreateContainer": nri_pb2.CREATE_CONTAINER,
    "StartContainer": nri_pb2.START_CONTAINER,
    "StopContainer": nri_pb2.STOP_CONTAINER,
    "RemoveContainer": nri_pb2.REMOVE_CONTAINER,
}
_POD_HOOKS = {"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"}


class Plugin:
    """A plugin recording (hook, pod id, container name) and Synchronize's ids; ``on_hook`` may
    raise ``CallFailed`` to refuse a step, or block."""

    def __init__(self, path: str, name: str, on_hook: Callable[[str], None] = lambda hook: None) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.synced: tuple[list[str], list[str]] = ([], [])
        self.on_hook = on_hook
        self.ready = threading.Event()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        self.peer = Peer(sock, RUNTIME_CHANNEL, PLUGIN_CHANNEL, self._serve)
        threading.Thread(target=self.peer.serve, daemon=True).start()
        register = nri_pb2.RegisterPluginRequest(plugin_name=name, plugin_idx="00")
        self.peer.call("nri.pkg.api.v1alpha1.Runtime", "RegisterPlugin", register.SerializeToString(), 10)
        wait_for(self.ready.is_set, "the plugin's Synchronize")

    def _serve(self, method: str, payload: bytes) -> bytes:
        if method == "Configure":
            events = sum(1 << (event - 1) for event in HOOKS.values())
            reply: Any = nri_pb2.ConfigureResponse(events=events)
        elif method == "Synchronize":
            sync = nri_pb2.SynchronizeRequest.FromString(payload)
            self.synced = ([p.id for p in sync.pods], [c.id for c in sync.containers])
            self.ready.set()
            reply = nri_pb2.SynchronizeResponse()
        elif method in _POD_HOOKS:
            pod = nri_pb2.PodSandboxRequest.FromString(payload).pod
            self.events.append((method, pod.id, ""))
            self.on_hook(method)
            reply = nri_pb2.Empty()
        else:
            request = nri_pb2.ContainerRequest.FromString(payload)
            self.events.append((method, request.pod.id, request.container.name))
            self.on_hook(method)
            reply = nri_pb2.CreateContainerResponse() if method == "CreateContainer" else nri_pb2.Empty()
        encoded: bytes = reply.SerializeToString()
        return encoded

    def hooks(self) -> list[str]:
        return [method for method, _, _ in self.events]


@pytest.fixture
def nri(imaged: Berth) -> Iterator[tuple[Cri, str]]:
    """A server with NRI's socket, and the socket's path."""
    path = imaged.runroot / "nri.sock"
    with serving(imaged, f'nri_socket = "{path}"\n') as cri:
        wait_for(path.exists, "the NRI socket")
        yield cri, str(path)
    assert not path.exists(), "the server left NRI's socket"


def _container(cri: Cri, sid: str, name: str, script: str) -> str:
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name),
        image=pb.ImageSpec(image=IMAGE),
        command=["sh", "-c", script],
    )
    made: str = cri.runtime.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    ).container_id
    return made


def test_a_plugin_sees_the_lifecycle_in_order(nri: tuple[Cri, str]) -> None:
    cri, path = nri
    plugin = Plugin(path, "lifecycle")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("nri"))).pod_sandbox_id
    cid = _container(cri, sid, "fails", "exit 3")
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    assert wait_state(cri.runtime, cid, "CONTAINER_EXITED").exit_code == 3
    wait_for(lambda: "StopContainer" in plugin.hooks(), "StopContainer of a container that ended by itself")
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))  # once: no second hook
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert plugin.events == [
        ("RunPodSandbox", sid, ""),
        ("CreateContainer", sid, "fails"),
        ("StartContainer", sid, "fails"),
        ("StopContainer", sid, "fails"),
        ("RemoveContainer", sid, "fails"),
        ("StopPodSandbox", sid, ""),
        ("RemovePodSandbox", sid, ""),
    ]
    plugin.peer.close()


def test_a_refusing_plugin_fails_the_step_and_nothing_is_left(nri: tuple[Cri, str]) -> None:
    cri, path = nri
    refuse = {"RunPodSandbox", "CreateContainer"}

    def once(hook: str) -> None:
        if hook in refuse:
            refuse.discard(hook)
            raise CallFailed(f"no {hook} today")

    plugin = Plugin(path, "refuses", once)
    config = sandbox_config("refused")
    with pytest.raises(grpc.RpcError, match="no RunPodSandbox today"):
        cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config))
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    with pytest.raises(grpc.RpcError, match="no CreateContainer today"):
        _container(cri, sid, "refused", "sleep 1")
    assert cri.runtime.ListContainers(pb.ListContainersRequest()).containers == []
    _container(cri, sid, "accepted", "sleep 1")
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    plugin.peer.close()


def test_what_a_hook_decides_on_is_not_shown_and_a_late_plugin_is_synchronized(nri: tuple[Cri, str]) -> None:
    cri, path = nri
    reached, release = threading.Event(), threading.Event()

    def hold(hook: str) -> None:
        if hook == "RunPodSandbox":
            reached.set()
            release.wait(30)

    first = Plugin(path, "holds", hold)
    made: list[str] = []
    run = threading.Thread(
        target=lambda: made.append(
            cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("held"))).pod_sandbox_id
        )
    )
    run.start()
    wait_for(reached.is_set, "the RunPodSandbox hook")
    assert cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
    held = first.events[0][1]
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=held))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    release.set()
    run.join()
    assert made == [held]
    cid = _container(cri, held, "existing", "sleep 1000")
    late = Plugin(path, "late")
    assert late.synced == ([held], [cid])
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=held))
    assert late.hooks() == ["StopPodSandbox", "RemoveContainer", "RemovePodSandbox"]
    first.peer.close()
    late.peer.close()
