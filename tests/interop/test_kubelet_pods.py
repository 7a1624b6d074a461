"""More of what a kubelet asks of its runtime, beyond the pods issue's pod (``test_kubelet``): an
init container filling an emptyDir, a read-only hostPath, environment, a user, memory and CPU
limits, HTTP and TCP probes that the kubelet makes to the pod's IP from the host; a pod on the
host's network; a container that fails under ``restartPolicy: Never``, which ends the pod Failed
with its exit code; a pod sharing one PID namespace, with postStart and preStop hooks; a failing
liveness probe and a crash loop, both restarted. The same standalone kubelet (``BERTH_KUBELET``),
relisting."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from berth.cri.proto import api_pb2 as pb
from tests.integration.cri.conftest import connect
from tests.integration.engine_cli.conftest import Berth
from tests.interop.test_kubelet import _get as get_json
from tests.interop.test_kubelet import (
    berth,
    busybox_root,
    cri_endpoint,
    host_network_unchanged,
    images,
    kubelet,
    pytestmark,
)

__all__ = [
    "berth",
    "busybox_root",
    "cri_endpoint",
    "host_network_unchanged",
    "images",
    "kubelet",
    "pytestmark",
]

PODS_URL = "http://127.0.0.1:10255/pods"


@pytest.fixture
def gates() -> dict[str, bool]:
    return {}


def _pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"terminationGracePeriodSeconds": 1, **spec}
    for container in (*spec.get("initContainers", []), *spec["containers"]):
        container.setdefault("image", "localhost/app:1")
        container["imagePullPolicy"] = "Never"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def _status(name: str) -> dict[str, Any]:
    """The kubelet's status of static pod ``name`` ({} until it has one)."""
    items = (get_json(PODS_URL) or {}).get("items") or []
    found = [p for p in items if p["metadata"]["name"].startswith(f"{name}-")]
    return found[0]["status"] if found else {}


def _wait(predicate: Callable[[], bool], what: str, limit: float, name: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {json.dumps(_status(name))[:3000]}")
        time.sleep(0.5)


def _ready(name: str) -> bool:
    status = _status(name)
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def _exec(runtime: Any, name: str, container: str, *cmd: str) -> str:
    """What ``cmd`` prints in the running ``container`` of pod ``name``, through the CRI."""
    labels = {"io.kubernetes.pod.name": next(n for n in _names(runtime) if n.startswith(f"{name}-")),
              "io.kubernetes.container.name": container}  # fmt: skip
    running = pb.ContainerStateValue(state=pb.ContainerState.Value("CONTAINER_RUNNING"))
    wanted = pb.ContainerFilter(state=running, label_selector=labels)
    (found,) = runtime.ListContainers(pb.ListContainersRequest(filter=wanted)).containers
    answer = runtime.ExecSync(pb.ExecSyncRequest(container_id=found.id, cmd=list(cmd), timeout=20))
    assert answer.exit_code == 0, answer.stderr
    return str(answer.stdout.decode())


def _names(runtime: Any) -> set[str]:
    return {s.metadata.name for s in runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items}


def test_a_kubelet_runs_volumes_probes_limits_host_network_and_a_failure(
    berth: Berth, kubelet: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    rich = _pod("rich", {
        "initContainers": [{"name": "init", "command": ["sh", "-c", "echo from-init > /work/index.html"],
                            "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        "containers": [{
            "name": "web",
            "command": ["httpd", "-f", "-p", "8080", "-h", "/work"],
            "env": [{"name": "GREETING", "value": "hello"}],
            "ports": [{"containerPort": 8080}],
            "volumeMounts": [{"name": "work", "mountPath": "/work"},
                             {"name": "host", "mountPath": "/host", "readOnly": True}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            "securityContext": {"runAsUser": 1000},
            "resources": {"limits": {"memory": "64Mi", "cpu": "200m"}},
        }],
        "volumes": [{"name": "work", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": str(shared), "type": "Directory"}}],
    })  # fmt: skip
    on_host = _pod(
        "onhost", {"hostNetwork": True, "containers": [{"name": "idle", "command": ["sleep", "3600"]}]}
    )
    failing = _pod(
        "failing",
        {"restartPolicy": "Never", "containers": [{"name": "fails", "command": ["sh", "-c", "exit 3"]}]},
    )
    for pod in (rich, on_host, failing):
        (kubelet / f"{pod['metadata']['name']}.json").write_text(json.dumps(pod))

    _wait(lambda: _ready("rich"), "the rich pod to be ready (its HTTP probe passing)", 180, "rich")
    _wait(lambda: _ready("onhost"), "the host-network pod to run", 120, "onhost")
    _wait(lambda: _status("failing").get("phase") == "Failed", "the failing pod to fail", 120, "failing")
    (fails,) = _status("failing")["containerStatuses"]
    assert (fails["state"]["terminated"]["exitCode"], fails["state"]["terminated"]["reason"]) == (3, "Error")
    rich_status = _status("rich")
    assert rich_status["podIP"]  # (a standalone kubelet has no node, so no hostIP)
    (init,) = rich_status["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    (web,) = rich_status["containerStatuses"]
    assert (web["restartCount"], web["image"]) == (0, "localhost/app:1")  # asked for by id, shown by name

    channel, runtime, _images = connect(berth.runroot / "cri" / "cri.sock")
    try:
        assert _exec(runtime, "rich", "web", "cat", "/work/index.html") == "from-init\n"
        assert _exec(runtime, "rich", "web", "cat", "/host/note") == "from the host\n"
        assert _exec(runtime, "rich", "web", "sh", "-c", "echo $GREETING; id -u") == "hello\n1000\n"
        refused = _exec(runtime, "rich", "web", "sh", "-c", "touch /host/x 2>&1 || echo refused")
        assert refused.endswith("refused\n")
        v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        limit = _exec(runtime, "rich", "web", "sh", "-c", f"cat {v2} 2>/dev/null || cat {v1}")
        assert limit.strip() == str(64 * 1024 * 1024)
        if Path("/sys/fs/cgroup/cpu/cpu.shares").exists():  # cgroup v1: the request (200m) as shares
            assert _exec(runtime, "rich", "web", "cat", "/sys/fs/cgroup/cpu/cpu.shares") == "204\n"
        host_net = os.readlink("/proc/self/ns/net")
        assert _exec(runtime, "onhost", "idle", "readlink", "/proc/self/ns/net").strip() == host_net
        assert _exec(runtime, "rich", "web", "readlink", "/proc/self/ns/net").strip() != host_net

        for name in ("rich", "onhost", "failing"):
            (kubelet / f"{name}.json").unlink()
        _wait(lambda: not _names(runtime), "the kubelet to remove every sandbox", 150, "rich")
    finally:
        channel.close()
    assert berth("pod", "ps", "-q").stdout.strip() == ""


def _restarts(name: str, container: str) -> int:
    statuses = {c["name"]: c for c in _status(name).get("containerStatuses", [])}
    return int(statuses.get(container, {}).get("restartCount", 0))


def test_a_kubelet_shares_a_pid_namespace_runs_hooks_and_restarts_what_fails(
    berth: Berth, kubelet: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    host = {"name": "host", "hostPath": {"path": str(shared), "type": "Directory"}}
    hooks = _pod("hooks", {
        "shareProcessNamespace": True,
        "containers": [
            {"name": "main", "command": ["sleep", "3600"],
             "volumeMounts": [{"name": "host", "mountPath": "/host"}],
             "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/post-start"]}},
                           "preStop": {"exec": {"command": ["sh", "-c", "echo bye > /host/pre-stop"]}}}},
            {"name": "peer", "command": ["sleep", "3601"]},
        ],
        "volumes": [host],
    })  # fmt: skip
    # Unhealthy from the start: the liveness probe fails, so the kubelet kills and restarts it.
    unhealthy = _pod("unhealthy", {"containers": [{
        "name": "sick", "command": ["sleep", "3600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]},
                          "periodSeconds": 1, "failureThreshold": 1},
    }]})  # fmt: skip
    crashing = _pod("crashing", {"containers": [{"name": "crash", "command": ["sh", "-c", "exit 1"]}]})
    for pod in (hooks, unhealthy, crashing):
        (kubelet / f"{pod['metadata']['name']}.json").write_text(json.dumps(pod))

    _wait(lambda: _ready("hooks"), "the hooks pod to run", 180, "hooks")
    _wait(
        lambda: _restarts("unhealthy", "sick") >= 1,
        "the kubelet to restart the unhealthy container",
        120,
        "unhealthy",
    )
    _wait(
        lambda: _restarts("crashing", "crash") >= 2,
        "the crashing container to restart twice",
        120,
        "crashing",
    )
    (crash,) = _status("crashing")["containerStatuses"]
    assert crash["lastState"]["terminated"]["exitCode"] == 1
    assert crash["state"].get("waiting", {}).get("reason", "CrashLoopBackOff") == "CrashLoopBackOff"

    channel, runtime, _images = connect(berth.runroot / "cri" / "cri.sock")
    try:
        assert _exec(runtime, "hooks", "main", "cat", "/tmp/post-start") == "started\n"
        seen = _exec(runtime, "hooks", "peer", "ps", "-o", "args")
        assert "sleep 3600" in seen and "sleep 3601" in seen  # one PID namespace for the pod

        for name in ("hooks", "unhealthy", "crashing"):
            (kubelet / f"{name}.json").unlink()
        _wait(lambda: not _names(runtime), "the kubelet to remove every sandbox", 150, "hooks")
    finally:
        channel.close()
    assert (shared / "pre-stop").read_text() == "bye\n"  # the preStop hook ran before the stop
    assert berth("pod", "ps", "-q").stdout.strip() == ""
