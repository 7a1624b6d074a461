"""berth.kube.manifest: YAML documents into records, errors naming the field path."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.kube.manifest import parse_manifest

CLOUD_NATIVE_APP = """\
apiVersion: v1
kind: Pod
metadata:
  name: cloud-native-app
  annotations:
    prometheus.io/scrape: "true"
    linkerd.io/inject: enabled
spec:
  containers:
  - name: app
    image: myapp:latest
    ports:
    - containerPort: 8080
  - name: envoy-proxy
    image: envoyproxy/envoy:latest
"""


def _error(text: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_manifest(textwrap.dedent(text))
    return str(caught.value)


def _pod(containers: str, extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(containers), "  ")
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n{body}{extra}"


def test_the_issue_manifest_reads_into_one_pod_of_two_containers() -> None:
    manifest = parse_manifest(CLOUD_NATIVE_APP)
    (pod,) = manifest.pods
    assert pod.name == "cloud-native-app"
    assert pod.annotations == {"prometheus.io/scrape": "true", "linkerd.io/inject": "enabled"}
    assert [c.name for c in pod.containers] == ["app", "envoy-proxy"]
    assert pod.containers[0].ports[0].container_port == 8080
    assert pod.containers[1].image == "envoyproxy/envoy:latest"


def test_a_wrong_type_names_the_field_path() -> None:
    text = _pod("- name: a\n  image: i\n- name: b\n  image: i\n  ports:\n  - containerPort: http\n")
    assert _error(text) == "spec.containers[1].ports[0].containerPort: expected an integer"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "invalid YAML: line 2, column 1: "),
        ("apiVersion: v1\nkind: Ingress\nmetadata: {name: s}\n", "kind: unknown kind 'Ingress'"),
        (_pod("- name: a\n  image: i\n- name: a\n  image: i\n"),
         "spec.containers[1].name: a second container"),
        (_pod("- name: a\n"), "spec.containers[0].image: required"),
        (_pod("- name: a\n  image: i\n  volumeMounts: [{name: v, mountPath: /v}]\n"),
         "spec.containers[0].volumeMounts[0].name: no volume named 'v' in spec.volumes"),
        (_pod("- name: a\n  image: i\n", "  volumes: [{name: v, emptyDir: {}}]\n"),
         "spec.volumes[0]: volume 'v' is mounted by no container"),
        (_pod("- name: a\n  image: i\n  env: [{name: E, valueFrom: {configMapKeyRef: {name: c, key: k}}}]\n"),
         "spec.containers[0].env[0].valueFrom.configMapKeyRef.name: no ConfigMap named 'c'"),
        (_pod("- name: a\n  image: i\n  livenessProbe: {httpGet: {port: 80}}\n"),
         "spec.containers[0].livenessProbe.httpGet: not supported by Berth"),
        (_pod("- name: a\n  image: i\n  imagee: x\n"), "spec.containers[0].imagee: unknown field"),
        (_pod("- name: a\n  image: i\n", "  volumes: [{name: v, nfs: {server: s}}]\n"),
         "spec.volumes[0].nfs: volume source not supported"),
        (_pod("- name: a\n  image: i\n  securityContext: {privileged: 'yes'}\n"),
         "spec.containers[0].securityContext.privileged: expected a boolean"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_path(text: str, message: str) -> None:
    error = _error(text)
    assert error.startswith(message), error
    assert "\n" not in error


def test_ignores_what_podman_ignores() -> None:
    text = _pod("- name: a\n  image: i\n  terminationMessagePath: /dev/termination-log\n",
                "  dnsPolicy: ClusterFirst\nstatus: {}\n")  # fmt: skip
    assert parse_manifest(text).pods[0].containers[0].name == "a"


def test_deployment_replicas_are_pods_named_as_podman_names_them() -> None:
    text = """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, annotations: {a: b}}
        spec:
          replicas: 3
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: c, image: i}]
        """
    pods = parse_manifest(textwrap.dedent(text)).pods
    assert [p.name for p in pods] == ["web-pod-0", "web-pod-1", "web-pod-2"]
    assert pods[0].labels == {"app": "web"} and pods[0].annotations == {"a": "b"}
    assert pods[0].containers[0].path == "spec.template.spec.containers[0]"


def test_config_maps_secrets_and_claims_across_documents() -> None:
    text = """\
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        data: {password: aHVudGVyMg==}
        stringData: {user: admin}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {mode: fast}
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data, labels: {tier: db}}
        spec: {accessModes: [ReadWriteOnce]}
        """
    manifest = parse_manifest(textwrap.dedent(text))
    assert manifest.secrets == {"s": {"password": b"hunter2", "user": b"admin"}}
    assert manifest.config_maps == {"c": {"mode": "fast"}}
    assert manifest.claims == {"data": {"tier": "db"}}


def test_errors_in_a_file_of_several_documents_say_which() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + _pod("- name: a\n  image: 5\n")
    assert _error(text) == "document 2: spec.containers[0].image: expected a string"


def test_a_missing_key_of_a_config_map_volume() -> None:
    text = _pod("- name: a\n  image: i\n  volumeMounts: [{name: v, mountPath: /v}]\n",
                "  volumes: [{name: v, configMap: {name: c, items: [{key: nope, path: f}]}}]\n"
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n")  # fmt: skip
    assert (
        _error(text) == "document 1: spec.volumes[0].configMap.items[0].key: ConfigMap 'c' has no key 'nope'"
    )


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["name", "image", "spec", "containers", "ports", "containerPort", "kind",
                         "apiVersion", "metadata", "env", "value", "volumes", "volumeMounts", "x"]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["Pod", "Deployment", "ConfigMap", "Secret", "PersistentVolumeClaim"]),
    body=st.dictionaries(st.sampled_from(["metadata", "spec", "data", "stringData"]), _values),
)
def test_random_documents_never_crash_the_parser(kind: str, body: dict[str, object]) -> None:
    import yaml

    document = {"apiVersion": "v1", "kind": kind, **body}
    try:
        parse_manifest(yaml.safe_dump(document))
    except InvalidArgument as err:
        assert ":" in str(err) and "\n" not in str(err)
