"""A real kubelet (v1.28.7, built as shared/PEERS.md says; ``BERTH_KUBELET`` names it) in
standalone mode (no API server; static pods from a directory; cgroupfs) with ``berth cri serve`` as
its runtime: it runs the pods issue's two-container pod to Running with exec probes reporting it
healthy, restarts a container that exits (restartPolicy Always), and tears the pod down when its
manifest goes, leaving nothing of Berth's. Everything the kubelet does to the host is undone
(``kubelet_host``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cri.conftest import bridge_conflist, connect, start_server, stop_server
from tests.integration.engine_cli.conftest import (
    Berth,
    berth,
    busybox_root,
    host_network_unchanged,
    import_busybox,
)
from tests.interop.kubelet_host import kubelet_undone
from tests.unit.kube.test_manifest import CLOUD_NATIVE_APP

__all__ = ["berth", "busybox_root", "host_network_unchanged"]

KUBELET = os.environ.get("BERTH_KUBELET", "")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not KUBELET or not Path(KUBELET).is_file(), reason="BERTH_KUBELET names no kubelet"),
]

#: The kubelet's read-only port: pod status and statistics without authentication
#: (KubeletConfiguration.readOnlyPort).
PODS_URL = "http://127.0.0.1:10255/pods"
SUMMARY_URL = "http://127.0.0.1:10255/stats/summary"
#: The kubelet's two ways of following the runtime: relisting every second (its default), and
#: GetContainerEvents (EventedPLEG, alpha in 1.28), there with the summary's pod statistics from
#: the CRI alone (PodAndContainerStatsFromCRI).
FEATURE_GATES = {
    "relist": {},
    "events": {"EventedPLEG": True, "PodAndContainerStatsFromCRI": True},
}
APP_CMD = 'CMD ["httpd", "-f", "-p", "8080", "-h", "/etc"]'
# The sidecar fetches from the app over the pod's localhost until told to stop (a file in its /tmp).
SIDECAR_CMD = (
    'CMD ["sh", "-c", "while [ ! -e /tmp/exit ]; do wget -qO- http://localhost:8080/hostname; sleep 1; done"]'
)


def _manifest() -> dict[str, Any]:
    """The pods issue's manifest, its images made here from busybox, with what a kubelet test needs:
    exec probes on the app, images never pulled, a short grace period (httpd, as PID 1, ignores
    SIGTERM)."""
    import yaml

    pod: dict[str, Any] = yaml.safe_load(CLOUD_NATIVE_APP)
    app, sidecar = pod["spec"]["containers"]
    app["image"], sidecar["image"] = "localhost/app:1", "localhost/sidecar:1"
    probe = {"timeoutSeconds": 20, "periodSeconds": 1}
    app["readinessProbe"] = {"exec": {"command": ["wget", "-qO-", "http://localhost:8080/passwd"]}, **probe}
    app["livenessProbe"] = {"exec": {"command": ["cat", "/etc/hostname"]}, **probe}
    for container in (app, sidecar):
        container["imagePullPolicy"] = "Never"
    pod["metadata"]["namespace"] = "default"
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    return pod


def _kubelet_config(tmp: Path, endpoint: str, gates: dict[str, bool]) -> dict[str, Any]:
    """The KubeletConfiguration of shared/PEERS.md, its servers on 127.0.0.1 only."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": endpoint,
        "staticPodPath": str(tmp / "manifests"),
        "volumePluginDir": str(tmp / "volume-plugins"),  # (else /usr/libexec/kubernetes/...)
        "fileCheckFrequency": "1s",
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "address": "127.0.0.1",
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 10255,
        "authentication": {"webhook": {"enabled": False}, "anonymous": {"enabled": True}},
        "authorization": {"mode": "AlwaysAllow"},
        "featureGates": gates,
    }


@pytest.fixture
def images(berth: Berth, tmp_path: Path) -> None:
    import_busybox(berth, tmp_path, {"localhost/app:1": APP_CMD, "localhost/sidecar:1": SIDECAR_CMD})


@pytest.fixture
def cri_endpoint(berth: Berth, images: None, tmp_path: Path) -> Iterator[str]:
    """``berth cri serve`` with a net.d of its own (bridge, host-local, portmap: NetworkReady)."""
    net_d = tmp_path / "net.d"
    net_d.mkdir()
    subnet = f"10.234.{os.urandom(1)[0]}.0/24"
    bridge = bridge_conflist(net_d / "10-kubelet.conflist", "kubelet", subnet, tmp_path / "ipam")
    (tmp_path / "cri.toml").write_text(f'cni_conf_dir = "{net_d}"\n')
    socket = berth.runroot / "cri" / "cri.sock"
    socket.parent.mkdir(parents=True)
    process = start_server(berth, socket, tmp_path / "cri.toml")
    try:
        yield f"unix://{socket}"
    finally:
        assert stop_server(process) == 0, (socket.parent / "cri.log").read_text()[-3000:]
        berth("pod", "rm", "--all", "-f", check=False)
        berth("network", "rm", "-f", "cri-kubelet", check=False)
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)  # the plugin's


@pytest.fixture(params=list(FEATURE_GATES))
def gates(request: pytest.FixtureRequest) -> dict[str, bool]:
    return FEATURE_GATES[request.param]


@pytest.fixture
def kubelet(berth: Berth, cri_endpoint: str, gates: dict[str, bool], tmp_path: Path) -> Iterator[Path]:
    """A standalone kubelet on ``cri_endpoint``; yields its static pod directory. Stopped by its
    PID, then (the CRI's pods removed, out of its cgroups) the host is as it was."""
    tmp = tmp_path / "kl"  # short: the kubelet's sockets live under its root dir
    (tmp / "manifests").mkdir(parents=True)
    config = tmp / "config.json"  # (JSON is YAML)
    config.write_text(json.dumps(_kubelet_config(tmp, cri_endpoint, gates)))
    root = tmp / "root"
    argv = [KUBELET, "--config", str(config), "--root-dir", str(root), "--cert-dir", str(tmp / "pki")]
    argv.append("--v=2")
    with kubelet_undone(root), open(tmp / "kubelet.log", "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield tmp / "manifests"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            berth("pod", "rm", "--all", "-f", check=False)


def _get(url: str) -> Any:
    """The kubelet's JSON answer at ``url``; None while it does not listen yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.load(answer)
    except OSError:
        return None


def _pods() -> list[dict[str, Any]]:
    items = (_get(PODS_URL) or {}).get("items") or []
    return [p for p in items if p["metadata"]["name"].startswith("cloud-native-app")]


def _pod_summary() -> dict[str, Any]:
    """The pod's statistics in the kubelet's summary ({} until they are there)."""
    pods = (_get(SUMMARY_URL) or {}).get("pods") or []
    return next((p for p in pods if p["podRef"]["name"].startswith("cloud-native-app")), {})


def _wait(predicate: Callable[[], bool], what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {json.dumps(_pods())[:3000]}")
        time.sleep(0.5)


def _containers() -> dict[str, dict[str, Any]]:
    (pod,) = _pods() or [{"status": {}}]
    return {c["name"]: c for c in pod["status"].get("containerStatuses", [])}


def _running_and_ready() -> bool:
    pods = _pods()
    if len(pods) != 1 or pods[0]["status"].get("phase") != "Running":
        return False
    conditions = {c["type"]: c["status"] for c in pods[0]["status"].get("conditions", [])}
    statuses = _containers().values()
    return (
        conditions.get("Ready") == "True"
        and len(statuses) == 2
        and all("running" in c["state"] and c["ready"] for c in statuses)
    )


def _summarized(from_cri: bool) -> bool:
    """Whether the summary has the containers' writable layers (``rootfs``) and, with statistics
    from the CRI alone, the pod's network (else cAdvisor's, which does not know Berth's cgroups)."""
    summary = _pod_summary()
    layers = [c.get("rootfs", {}).get("usedBytes") for c in summary.get("containers", [])]
    network = summary.get("network", {}).get("name") == "eth0"
    return len(layers) == 2 and None not in layers and (network or not from_cri)


def test_a_kubelet_runs_restarts_probes_and_tears_down_the_pod(
    berth: Berth, kubelet: Path, gates: dict[str, bool]
) -> None:
    from berth.cri.proto import api_pb2 as pb

    manifest = kubelet / "cloud-native-app.json"
    manifest.write_text(json.dumps(_manifest()))
    _wait(_running_and_ready, "the pod to run, its probes to pass", 180)
    assert [c["restartCount"] for c in _containers().values()] == [0, 0]
    from_cri = gates.get("PodAndContainerStatsFromCRI", False)
    _wait(lambda: _summarized(from_cri), "the pod's statistics in the summary", 60)

    # The sidecar exits (0): restartPolicy Always starts it again.
    channel, runtime, _images = connect(berth.runroot / "cri" / "cri.sock")
    try:
        (sidecar,) = runtime.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(
            state=pb.ContainerStateValue(state=pb.ContainerState.Value("CONTAINER_RUNNING")),
            label_selector={"io.kubernetes.container.name": "envoy-proxy"},
        ))).containers  # fmt: skip
        runtime.ExecSync(pb.ExecSyncRequest(container_id=sidecar.id, cmd=["touch", "/tmp/exit"], timeout=20))
        _wait(lambda: _containers()["envoy-proxy"]["restartCount"] >= 1 and _running_and_ready(),
              "the sidecar to run again", 120)  # fmt: skip
        last = _containers()["envoy-proxy"]["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (0, "Completed")
        assert _containers()["app"]["restartCount"] == 0

        # The manifest goes: the kubelet stops the pod, and its garbage collector (once a
        # minute) removes the sandbox and the containers.
        manifest.unlink()
        _wait(lambda: not _pods(), "the kubelet to forget the pod", 120)
        _wait(lambda: not runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items
              and not runtime.ListContainers(pb.ListContainersRequest()).containers,
              "the kubelet to remove the sandbox and its containers", 150)  # fmt: skip
    finally:
        channel.close()
    assert berth("pod", "ps", "-q").stdout.strip() == ""
    assert berth("ps", "-a", "-q").stdout.strip() == ""
