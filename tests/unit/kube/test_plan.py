"""berth.kube.plan: a manifest's pods as the engine's options, mapped as podman 4.3 maps them."""

from __future__ import annotations

import textwrap

from berth.kube.manifest import parse_manifest
from berth.kube.plan import plan_pod

DEMO = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {mode: fast, other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {token: t0k}
---
apiVersion: v1
kind: Pod
metadata:
  name: demo
  labels: {app: demo}
  annotations: {note: hi}
spec:
  restartPolicy: OnFailure
  securityContext: {runAsGroup: 1000}
  initContainers:
  - name: init
    image: localhost/bb:1
    command: [sh, -c, "echo init"]
  containers:
  - name: app
    image: localhost/bb:1
    args: [httpd, -f]
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: cfg, key: mode}}}
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: sec, key: token}}}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    envFrom: [{configMapRef: {name: cfg}, prefix: P_}]
    workingDir: /tmp
    ports: [{containerPort: 8080, hostPort: 18080}, {containerPort: 53, protocol: UDP}]
    resources: {limits: {cpu: 500m, memory: 64Mi}}
    securityContext:
      runAsUser: 1000
      capabilities: {add: [NET_ADMIN], drop: [CHOWN]}
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
    livenessProbe: {exec: {command: [cat, /etc/passwd]}, periodSeconds: 5}
    volumeMounts:
    - {name: c, mountPath: /cfg}
    - {name: e, mountPath: /scratch}
    - {name: h, mountPath: /host, readOnly: true}
    - {name: d, mountPath: /data}
  volumes:
  - {name: c, configMap: {name: cfg, items: [{key: mode, path: mode.txt}]}}
  - {name: e, emptyDir: {}}
  - {name: h, hostPath: {path: /srv, type: Directory}}
  - {name: d, persistentVolumeClaim: {claimName: data}}
"""


def test_the_pod_and_its_containers_map_as_podman_maps_them() -> None:
    manifest = parse_manifest(DEMO)
    plan = plan_pod(manifest, manifest.pods[0])
    assert plan.pod == {
        "name": "demo", "hostname": "demo", "labels": {"app": "demo"}, "annotations": {"note": "hi"},
        "publish": ["18080:8080/tcp"], "network": "", "share": ["ipc", "net", "uts"], "add_host": [],
        "dns": [], "dns_search": [], "dns_option": [],
    }  # fmt: skip
    init, app = plan.containers
    assert init["name"] == "demo-init" and init["init_ctr"] == "once" and init["restart"] == "on-failure"
    assert init["entrypoint"] == ["sh", "-c", "echo init"] and "command" not in init
    assert init["user"] == "0:1000"  # the pod's runAsGroup
    assert app["name"] == "demo-app" and app["pod"] == "demo" and app["init_ctr"] == ""
    assert "entrypoint" not in app and app["command"] == ["httpd", "-f"]
    assert app["env"] == ["MODE=fast", "TOKEN=t0k", "POD=demo", "P_mode=fast", "P_other=x"]
    assert app["workdir"] == "/tmp" and app["user"] == "1000:1000"
    assert (app["cpus"], app["memory"]) == ("0.5", str(64 << 20))
    assert (app["cap_add"], app["cap_drop"]) == (["NET_ADMIN"], ["CHOWN"])
    assert app["read_only"] is True and app["security_opt"] == ["no-new-privileges"]
    assert app["health_test"] == ["CMD-SHELL", "cat /etc/passwd || exit 1"]
    assert (app["health_interval"], app["health_retries"]) == (5.0, 3)
    assert app["volumes"] == ["cfg:/cfg", "/scratch", "/srv:/host:ro", "data:/data"]
    assert app["labels"] == {"app": "demo"} and app["annotations"] == {"note": "hi"}
    (filled,) = plan.filled_volumes
    assert (filled.name, filled.files) == ("cfg", {"mode.txt": b"fast"})
    (host,) = plan.host_paths
    assert (host.path, host.type, host.where) == ("/srv", "Directory", "document 3: spec.volumes[2].hostPath")


def test_restart_always_kills_on_a_failed_probe_and_host_network() -> None:
    text = """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          hostNetwork: true
          containers:
          - name: c
            image: i
            readinessProbe: {exec: {command: [/bin/true]}}
        """
    manifest = parse_manifest(textwrap.dedent(text))
    plan = plan_pod(manifest, manifest.pods[0])
    assert plan.pod["network"] == "host"
    (ctr,) = plan.containers
    assert ctr["restart"] == "always"
    assert ctr["health_test"] == ["CMD-SHELL", "/bin/true || exit 1"]
