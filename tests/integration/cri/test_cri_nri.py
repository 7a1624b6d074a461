"""NRI: a plugin (speaking ttrpc over NRI's multiplexed socket, berth.cri.nri.ttrpc's other end)
registers, is synchronized with what exists, sees the lifecycle in order, and can refuse a pod or
a container (which then is not left behind); what a hook is deciding on is not shown meanwhile."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
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

    def __init__(
        self,
        path: str,
        name: str,
        on_hook: Callable[[str], None] = lambda hook: None,
        index: str = "00",
        replies: dict[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.replies = replies or {}
        self.synced: tuple[list[str], list[str]] = ([], [])
        self.on_hook = on_hook
        self.ready = threading.Event()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        self.peer = Peer(sock, RUNTIME_CHANNEL, PLUGIN_CHANNEL, self._serve)
        threading.Thread(target=self.peer.serve, daemon=True).start()
        register = nri_pb2.RegisterPluginRequest(plugin_name=name, plugin_idx=index)
        self.peer.call("nri.pkg.api.v1alpha1.Runtime", "RegisterPlugin", register.SerializeToString(), 10)
        wait_for(self.ready.is_set, "the plugin's Synchronize")

    def _serve(self, method: str, payload: bytes) -> bytes:
        if method == "Configure":
            events = sum(1 << (event - 1) for event in {*HOOKS.values(), nri_pb2.UPDATE_CONTAINER})
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
        elif method in self.replies:  # a request of the ContainerRequest shape, with more fields
            request = nri_pb2.UpdateContainerRequest.FromString(payload)
            self.events.append((method, request.pod.id, request.container.name))
            reply = self.replies[method](request)
        else:
            request = nri_pb2.ContainerRequest.FromString(payload)
            self.events.append((method, request.pod.id, request.container.name))
            self.on_hook(method)
            reply = nri_pb2.CreateContainerResponse() if method == "CreateContainer" else nri_pb2.Empty()
        encoded: bytes = reply.SerializeToString()
        return encoded

    def hooks(self) -> list[str]:
        return [method for method, _, _ in self.events if method in HOOKS]

    def update_containers(self, **request: Any) -> Any:
        """The runtime's UpdateContainers, unsolicited."""
        payload = nri_pb2.UpdateContainersRequest(**request).SerializeToString()
        reply = self.peer.call("nri.pkg.api.v1alpha1.Runtime", "UpdateContainers", payload, 30)
        return nri_pb2.UpdateContainersResponse.FromString(reply)


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


MIB = 1 << 20


def _memory_limit(cri: Cri, cid: str) -> int:
    """The memory limit of the container's cgroup (v2's memory.max or v1's limit_in_bytes)."""
    script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    return int(_exec(cri, cid, script))


def _exec(cri: Cri, cid: str, script: str) -> str:
    done = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script], timeout=30))
    assert done.exit_code == 0, done.stderr
    return str(done.stdout.decode().strip())


def _adjustment(shared: Path, hooked: Path) -> Any:
    """What the test plugin asks of every container it sees created."""
    adjust = nri_pb2.ContainerAdjustment(
        annotations={"nri.test/adjusted": "yes"},
        mounts=[nri_pb2.Mount(destination="/nri", type="bind", source=str(shared), options=["rbind", "ro"])],
        env=[nri_pb2.KeyValue(key="ADDED", value="by-nri"), nri_pb2.KeyValue(key="-DROPPED")],
        rlimits=[nri_pb2.POSIXRlimit(type="RLIMIT_NOFILE", hard=512, soft=256)],
        hooks=nri_pb2.Hooks(
            poststart=[nri_pb2.Hook(path="/bin/sh", args=["sh", "-c", f"echo hooked > {hooked}"])]
        ),
    )
    adjust.linux.resources.memory.limit.value = 64 * MIB
    adjust.linux.oom_score_adj.value = 123
    return adjust


def test_a_plugins_adjustments_and_updates_are_applied(nri: tuple[Cri, str], tmp_path: Path) -> None:
    cri, path = nri
    shared, hooked = tmp_path / "shared", tmp_path / "hooked"
    shared.mkdir()
    (shared / "file").write_text("from the host")

    def on_update(request: Any) -> Any:  # the CRI's update, then the plugin's of the same container
        update = nri_pb2.ContainerUpdate(container_id=request.container.id)
        update.linux.resources.memory.limit.value = 80 * MIB
        return nri_pb2.UpdateContainerResponse(update=[update])

    replies = {
        "CreateContainer": lambda request: nri_pb2.CreateContainerResponse(
            adjust=_adjustment(shared, hooked)
        ),
        "UpdateContainer": on_update,
    }
    plugin = Plugin(path, "adjuster", replies=replies)
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("adjusted"))).pod_sandbox_id
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="adjusted"),
        image=pb.ImageSpec(image=IMAGE),
        command=["sleep", "1000"],
        envs=[pb.KeyValue(key="DROPPED", value=b"x"), pb.KeyValue(key="KEPT", value=b"y")],
    )
    cid = cri.runtime.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=sid, config=config)
    ).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")

    env = _exec(cri, cid, "env").splitlines()
    assert "ADDED=by-nri" in env and "KEPT=y" in env and not any(e.startswith("DROPPED=") for e in env)
    assert _exec(cri, cid, "cat /nri/file") == "from the host"
    # The container's process (an exec's rlimits are the runtime's business), read from the host.
    pid = cri.berth.inspect(cid)["State"]["Pid"]
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "123"
    files = next(
        line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if "open files" in line
    )
    assert files.split()[3:5] == ["256", "512"]
    assert _memory_limit(cri, cid) == 64 * MIB
    wait_for(hooked.exists, "the poststart hook")

    # UpdateContainerResources: the plugin's update of the same container comes after the CRI's.
    resources = pb.LinuxContainerResources(memory_limit_in_bytes=100 * MIB)
    cri.runtime.UpdateContainerResources(
        pb.UpdateContainerResourcesRequest(container_id=cid, linux=resources)
    )
    assert _memory_limit(cri, cid) == 80 * MIB

    # Unsolicited: an update, one of an unknown container (failed), then an eviction.
    update = nri_pb2.ContainerUpdate(container_id=cid)
    update.linux.resources.memory.limit.value = 96 * MIB
    unknown = nri_pb2.ContainerUpdate(container_id="0" * 64)
    answer = plugin.update_containers(update=[update, unknown])
    assert [u.container_id for u in answer.failed] == ["0" * 64]
    assert _memory_limit(cri, cid) == 96 * MIB
    status = cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert status.resources.linux.memory_limit_in_bytes == 96 * MIB  # what the plugin set, reported
    evict = nri_pb2.ContainerEviction(container_id=cid, reason="too greedy")
    assert not plugin.update_containers(evict=[evict]).failed
    status = wait_state(cri.runtime, cid, "CONTAINER_EXITED")
    assert "too greedy" in status.message
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    plugin.peer.close()


def test_conflicting_adjustments_refuse_the_container(nri: tuple[Cri, str]) -> None:
    cri, path = nri

    def setting(value: str, remove_first: bool = False) -> Callable[[Any], Any]:
        env = [nri_pb2.KeyValue(key="-SHARED")] * remove_first + [nri_pb2.KeyValue(key="SHARED", value=value)]
        return lambda request: nri_pb2.CreateContainerResponse(adjust=nri_pb2.ContainerAdjustment(env=env))

    first = Plugin(path, "first", index="10", replies={"CreateContainer": setting("first")})
    second = Plugin(path, "second", index="20", replies={"CreateContainer": setting("second")})
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config("conflict"))).pod_sandbox_id
    with pytest.raises(grpc.RpcError, match="NRI plugins 10-first and 20-second both adjust env 'SHARED'"):
        _container(cri, sid, "conflict", "sleep 1000")
    assert cri.runtime.ListContainers(pb.ListContainersRequest()).containers == []

    second.replies["CreateContainer"] = setting("second", remove_first=True)  # removed first: its own
    cid = _container(cri, sid, "resolved", "sleep 1000")
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_state(cri.runtime, cid, "CONTAINER_RUNNING")
    assert "SHARED=second" in _exec(cri, cid, "env").splitlines()

    second.replies["CreateContainer"] = lambda request: nri_pb2.CreateContainerResponse(
        adjust=nri_pb2.ContainerAdjustment(CDI_devices=[nri_pb2.CDIDevice(name="vendor.com/gpu=0")])
    )
    with pytest.raises(grpc.RpcError, match="Berth does not apply CDI devices adjustments"):
        _container(cri, sid, "cdi", "sleep 1000")
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    first.peer.close()
    second.peer.close()
