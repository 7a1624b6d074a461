"""``berth kube play|down|generate`` on real pods: the issue's manifest with two local images,
bad input refused with nothing made, and generate's YAML played again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.engine_cli.conftest import Berth, import_busybox, wait_for
from tests.unit.kube.test_manifest import CLOUD_NATIVE_APP

APP_CMD = 'CMD ["httpd", "-f", "-p", "8080", "-h", "/etc"]'
SIDECAR_CMD = 'CMD ["sh", "-c", "while true; do wget -qO- http://localhost:8080/passwd; sleep 0.2; done"]'

# the issue's manifest, its two images replaced by ones made here from busybox
MANIFEST = CLOUD_NATIVE_APP.replace("myapp:latest", "localhost/app:1").replace(
    "envoyproxy/envoy:latest", "localhost/sidecar:1"
)


@pytest.fixture
def images(berth: Berth, tmp_path: Path) -> None:
    import_busybox(berth, tmp_path, {"localhost/app:1": APP_CMD, "localhost/sidecar:1": SIDECAR_CMD})


def _nothing_left(berth: Berth) -> None:
    assert berth("ps", "-a", "-q").stdout.strip() == ""
    assert berth("pod", "ps", "-q").stdout.strip() == ""
    assert berth("volume", "ls", "-q").stdout.strip() == ""


def _pod_inspect(berth: Berth, name: str) -> dict[str, object]:
    code = (
        "import json, sys\n"
        "from berth.engine.config import load_config\n"
        "from berth.engine.engine import Engine\n"
        "from berth.engine.pods.inspect import inspect_pod\n"
        "with Engine(load_config(None, None)) as e:\n"
        f"    print(json.dumps(inspect_pod(e, e.db.pod({name!r}))))\n"
    )
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], env=berth.env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_issue_manifest_plays_and_kube_down_leaves_nothing(
    berth: Berth, images: None, tmp_path: Path
) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST)
    try:
        out = berth("kube", "play", str(path)).stdout.splitlines()
        assert out[0] == "Pod:" and out[2] == "Containers:" and len(out) == 6
        wait_for(lambda: "berth:x:1000" in berth("logs", "cloud-native-app-envoy-proxy").stdout,
                 "the sidecar to fetch from the app over localhost")  # fmt: skip
        for name in ("cloud-native-app-app", "cloud-native-app-envoy-proxy"):
            assert berth.inspect(name)["State"]["Status"] == "running"
        pod = _pod_inspect(berth, "cloud-native-app")
        assert pod["Annotations"] == {"prometheus.io/scrape": "true", "linkerd.io/inject": "enabled"}
        assert pod["State"] == "Running"
    finally:
        down = berth("kube", "down", str(path))
    assert down.stdout.splitlines()[0] == "Pods stopped:"
    _nothing_left(berth)


BAD = {
    "unparsable": ("a: [\n", "invalid YAML"),
    "unknown kind": ("apiVersion: v1\nkind: Ingress\nmetadata: {name: x}\n", "kind: unknown kind"),
    "wrong type": (
        MANIFEST.replace("containerPort: 8080", "containerPort: http"),
        "spec.containers[0].ports[0].containerPort: expected an integer",
    ),
    "one name twice": (MANIFEST.replace("envoy-proxy", "app"), "spec.containers[1].name: a second container"),
    "missing image": (
        MANIFEST.replace("localhost/sidecar:1", "localhost/nothere:1"),
        "spec.containers[1].image: localhost/nothere:1: ",
    ),
    "unmounted volume": (MANIFEST + "  volumes: [{name: v, emptyDir: {}}]\n", "spec.volumes[0]: volume 'v'"),
    "mount of no volume": (
        MANIFEST + "    volumeMounts: [{name: v, mountPath: /v}]\n",
        "spec.containers[1].volumeMounts[0].name: no volume named 'v'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_125_and_nothing_made(
    berth: Berth, images: None, tmp_path: Path, case: str
) -> None:
    text, message = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = berth("kube", "play", str(path), check=False)
    assert done.returncode == 125, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    _nothing_left(berth)


def test_a_taken_port_is_refused_before_anything_is_made(berth: Berth, images: None, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "port.yaml"
        path.write_text(
            MANIFEST.replace("containerPort: 8080", f"containerPort: 8080\n      hostPort: {port}")
        )
        done = berth("kube", "play", str(path), check=False)
    assert done.returncode == 125
    assert f"spec.containers[0].ports[0].hostPort: port {port}/tcp is already in use" in done.stderr
    _nothing_left(berth)


def test_generate_output_plays_again(berth: Berth, images: None, tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST)
    again = tmp_path / "generated.yaml"
    berth("kube", "play", "--start=false", str(path))
    try:
        berth("kube", "generate", "-f", str(again), "cloud-native-app")
    finally:
        berth("kube", "down", str(path))
    try:
        berth("kube", "play", "--start=false", str(again))
        assert (
            berth.inspect("cloud-native-app-envoy-proxy")["Config"]["Annotations"]["linkerd.io/inject"]
            == "enabled"
        )
    finally:
        berth("kube", "down", str(again))
    _nothing_left(berth)


@pytest.mark.parametrize("policy", ["Never", "Always"])
def test_sigkill_of_a_played_pods_infra_stops_or_restarts_its_containers(
    berth: Berth, images: None, tmp_path: Path, policy: str
) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST.replace("spec:\n", f"spec:\n  restartPolicy: {policy}\n", 1))
    try:
        berth("kube", "play", str(path))
        infra = _pod_inspect(berth, "cloud-native-app")["InfraContainerID"]
        first = berth.inspect(str(infra))["State"]["Pid"]
        os.kill(first, signal.SIGKILL)
        if policy == "Never":
            wait_for(lambda: _pod_inspect(berth, "cloud-native-app")["State"] == "Exited", "the pod to exit")
            assert berth.inspect("cloud-native-app-app")["State"]["ExitCode"] == 137
        else:  # the containers come back, and their start starts the infra again
            wait_for(lambda: berth.inspect("cloud-native-app-app")["RestartCount"] >= 1, "the restart")
            wait_for(lambda: _pod_inspect(berth, "cloud-native-app")["State"] == "Running", "the pod to run")
            assert berth.inspect(str(infra))["State"]["Pid"] != first
    finally:
        berth("kube", "down", str(path))
    _nothing_left(berth)


#: The issue's pod with a ConfigMap volume and an emptyDir, so that play makes volumes too.
MOUNTS = "    volumeMounts: [{name: cfg, mountPath: /cfg}, {name: tmp, mountPath: /scratch}]\n"
WITH_VOLUMES = MANIFEST.replace("    - containerPort: 8080\n", "    - containerPort: 8080\n" + MOUNTS) + (
    "  volumes: [{name: cfg, configMap: {name: settings}}, {name: tmp, emptyDir: {}}]\n"
    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {MODE: fast}\n"
)


def _exists(berth: Berth, *args: str) -> bool:
    return berth(*args, check=False).returncode == 0


#: Points in the middle of ``kube play`` (after each, the next step is under way): the images are
#: there and the ConfigMap's volume made, the pod made, its first container made, one started.
MIDWAY = {
    "volumes made": lambda b: (b.root / "volumes" / "settings").exists(),
    "pod made": lambda b: _exists(b, "pod", "exists", "cloud-native-app"),
    "containers being made": lambda b: _exists(b, "inspect", "cloud-native-app-app"),
    "containers being started": lambda b: bool(b("ps", "-q", "--filter", "status=running").stdout.strip()),
}


@pytest.mark.parametrize("point", sorted(MIDWAY))
def test_play_killed_midway_then_pod_ps_tells_the_truth_and_prune_leaves_nothing(
    berth: Berth, images: None, tmp_path: Path, point: str
) -> None:
    from tests.integration.engine_cli.test_engine_pods import NOTHING, _leftovers, _truthful

    path = tmp_path / "app.yaml"
    path.write_text(WITH_VOLUMES)
    proc = berth.popen("kube", "play", str(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reached = MIDWAY[point]
    wait_for(lambda: proc.poll() is not None or reached(berth), point)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cgroups = []
    if _exists(berth, "pod", "exists", "cloud-native-app"):
        _truthful(berth, "cloud-native-app")
        cgroups.append(str(_pod_inspect(berth, "cloud-native-app")["CgroupPath"]))
    berth("pod", "stop", "-a", "-t", "0")
    berth("pod", "prune")
    berth("kube", "down", str(path))  # the ConfigMap's volume
    assert _leftovers(berth, cgroups) == NOTHING
    _nothing_left(berth)
