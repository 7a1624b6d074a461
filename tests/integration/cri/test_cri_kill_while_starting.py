"""``berth cri serve`` killed with SIGKILL while 20 pods start (RunPodSandbox, CreateContainer and
StartContainer each, from threads): after a restart every sandbox and container the client was given
an id for is listed with its true state, every one the engine holds is listed (nothing half-made
hides), and RemovePodSandbox of each, as the kubelet's collector does for what it does not know,
leaves nothing: no mount, cgroup, monitor (the session's leak check), netns or IP allocation."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import (
    IMAGE,
    BridgeNet,
    connect,
    sandbox_config,
    serving,
    start_server,
    stop_server,
    wait_for,
    wait_state,
)
from tests.integration.engine_cli.conftest import Berth

PODS = 20


@pytest.mark.parametrize(
    ("kill_after", "count"),
    [("containers", 4), ("started", 2)],
    ids=["sandboxes-starting", "containers-starting"],
)
def test_sigkill_while_twenty_pods_start(imaged: Berth, tmp_path: Path, kill_after: str, count: int) -> None:
    """The kill comes once ``count`` calls of a kind answered: 4 CreateContainer (most sandboxes
    still starting), or 2 StartContainer (most containers starting)."""
    net = BridgeNet.make(tmp_path)
    net_d = tmp_path / "net.d"
    net.write(net_d, "killed", net.plugins())
    told: dict[str, list[str]] = {"sandboxes": [], "containers": [], "started": []}
    lock = threading.Lock()

    def tell(kind: str, made: str) -> None:
        with lock:
            told[kind].append(made)

    try:
        with serving(imaged, f'cni_conf_dir = "{net_d}"\n') as cri:
            runtime = cri.runtime

            def pod_with_container(index: int) -> None:
                config = sandbox_config(f"p{index}")
                try:
                    sid = runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
                    tell("sandboxes", sid)
                    ctr = pb.ContainerConfig(
                        metadata=pb.ContainerMetadata(name="c"),
                        image=pb.ImageSpec(image=IMAGE),
                        command=["sleep", "1000"],
                    )
                    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr, sandbox_config=config)
                    cid = runtime.CreateContainer(request).container_id
                    tell("containers", cid)
                    runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
                    tell("started", cid)
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.UNAVAILABLE, err  # the server is gone

            with ThreadPoolExecutor(max_workers=PODS) as pool:
                futures = [pool.submit(pod_with_container, i) for i in range(PODS)]
                wait_for(lambda: len(told[kill_after]) >= count, f"{count} {kill_after}")
                assert stop_server(cri.process, signal.SIGKILL) == -signal.SIGKILL
                for future in futures:
                    future.result()
            cri.channel.close()
            assert len(told["started"]) < PODS  # the kill came in the middle

            cri.process = start_server(imaged, cri.socket, cri.socket.parent / "cri.toml")
            cri.channel, runtime, cri.images = connect(cri.socket)
            sandboxes = {s.id: s.state for s in runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items}
            containers = {c.id: c for c in runtime.ListContainers(pb.ListContainersRequest()).containers}

            # What the client was told of is there, with its true state.
            assert {sid: sandboxes.get(sid) for sid in told["sandboxes"]} == dict.fromkeys(
                told["sandboxes"], pb.SANDBOX_READY
            )
            for cid in told["containers"]:
                assert cid in containers
                if cid in told["started"]:
                    assert containers[cid].state == pb.CONTAINER_RUNNING
            for cid, container in containers.items():
                _assert_true_state(runtime, cid, container.state)
            for sid, state in sandboxes.items():
                status = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
                assert status.state == state
                assert (state == pb.SANDBOX_READY) == status.network.ip.startswith(f"{net.subnet}.")

            # Nothing the engine holds hides from the CRI: every pod is a sandbox listed, every
            # container but the infras a container listed.
            pods = imaged("pod", "ps", "-q", "--no-trunc").stdout.split()
            assert set(pods) == set(sandboxes)
            engine_containers = imaged("ps", "-a", "-q", "--no-trunc").stdout.split()
            assert len(engine_containers) == len(containers) + len(pods)

            # The kubelet removes every sandbox it does not know (and, here, those it does).
            for sid in sandboxes:
                runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
            assert runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
            assert imaged("ps", "-a", "-q").stdout.split() == []
            assert net.allocated() == []
            assert sorted(p.name for p in (imaged.root / "snapshots" / "active").iterdir()) == []
            assert sorted(p.name for p in imaged.runroot.glob("containers/*")) == []
            imaged("network", "rm", "cri-killed")
    finally:
        net.remove_bridge()


def _assert_true_state(runtime: object, cid: str, state: int) -> None:
    """A container said to run runs (an exec in it works); one said not to, does not."""
    request = pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=30)
    if state == pb.CONTAINER_RUNNING:
        assert runtime.ExecSync(request).exit_code == 0  # type: ignore[attr-defined]
        return
    try:
        runtime.ExecSync(request)  # type: ignore[attr-defined]
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, (cid, err)
    else:
        raise AssertionError(f"container {cid} is {pb.ContainerState.Name(state)} but runs an exec")
    assert wait_state(runtime, cid, pb.ContainerState.Name(state)).state == state
