"""Twenty sandboxes, each with a container, run, created and started at once: every monitor (forked
in the starter's clean processes, not in the gRPC server) reports its container running, writes its
log, and reports its exit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.integration.cri.conftest import IMAGE, Cri, sandbox_config, wait_for, wait_state

PODS = 20


def test_twenty_pods_started_at_once(cri: Cri, tmp_path: Path) -> None:
    from berth.cri.proto import api_pb2 as pb

    runtime = cri.runtime

    def pod_with_container(index: int) -> tuple[str, str]:
        config = sandbox_config(f"p{index}", log_directory=str(tmp_path / f"p{index}"))
        sid = runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
        ctr = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="c"),
            image=pb.ImageSpec(image=IMAGE),
            command=["sh", "-c", f"echo pod {index} up; exec sleep 1000"],
            log_path="c.log",
        )
        request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr, sandbox_config=config)
        cid = runtime.CreateContainer(request).container_id
        runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
        return sid, cid

    with ThreadPoolExecutor(max_workers=PODS) as pool:
        made = list(pool.map(pod_with_container, range(PODS)))
    for index, (sid, cid) in enumerate(made):
        assert wait_state(runtime, cid, "CONTAINER_RUNNING").state == pb.CONTAINER_RUNNING
        sandbox = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
        assert sandbox.state == pb.SANDBOX_READY
        log = tmp_path / f"p{index}" / "c.log"
        wait_for(lambda log=log, index=index: f"pod {index} up".encode() in log.read_bytes(), "its log")

    def stop(ids: tuple[str, str]) -> int:
        runtime.StopContainer(pb.StopContainerRequest(container_id=ids[1], timeout=0))
        return int(wait_state(runtime, ids[1], "CONTAINER_EXITED").exit_code)

    with ThreadPoolExecutor(max_workers=PODS) as pool:
        assert list(pool.map(stop, made)) == [137] * PODS  # every monitor reported its exit
    for sid, _cid in made:
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
