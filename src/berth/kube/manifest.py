"""Kubernetes manifests (``kube play``'s input) read into typed records.

``parse_manifest(text)`` reads every YAML document of a file (safe loading, libyaml's C loader when
present) and returns a ``Manifest``: its pods (a Deployment's replicas already made pods, named
``<deployment>-pod-<i>`` as podman 4.3 names them), ConfigMaps, Secrets and PersistentVolumeClaims.
Every field Berth reads is type-checked, and every error names the field's path, e.g.
``spec.containers[1].ports[0].containerPort: expected an integer`` (with ``document N: `` first
when the file holds several). Fields of the Kubernetes API that podman 4.3 also ignores are
ignored; those podman maps and Berth does not are refused by name; anything else is an unknown
field. The checks across objects (names, mounts, keys) are in ``berth.kube.checks``.
"""

from __future__ import annotations

import base64
import binascii
from fractions import Fraction

from berth.errors import InvalidArgument
from berth.kube.fields import Fields
from berth.kube.quantity import milli_value, parse_quantity, whole_value
from berth.spec.records import field, record

# Fields of the Kubernetes API that podman 4.3's kube play reads past without effect; Berth
# ignores them the same way (docs/pods.md lists them).
_IGNORED_META = (
    "namespace", "uid", "creationTimestamp", "resourceVersion", "generation", "selfLink",
    "ownerReferences", "finalizers", "managedFields", "generateName", "deletionTimestamp",
    "deletionGracePeriodSeconds", "clusterName",
)  # fmt: skip
_IGNORED_POD_SPEC = (
    "nodeSelector", "nodeName", "affinity", "tolerations", "schedulerName", "priority",
    "priorityClassName", "serviceAccount", "serviceAccountName", "automountServiceAccountToken",
    "dnsPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "enableServiceLinks",
    "preemptionPolicy", "runtimeClassName", "topologySpreadConstraints", "readinessGates",
    "imagePullSecrets", "subdomain", "setHostnameAsFQDN", "overhead", "hostPID", "hostIPC",
    "ephemeralContainers", "os",
)  # fmt: skip
_IGNORED_CONTAINER = (
    "terminationMessagePath", "terminationMessagePolicy", "startupProbe", "lifecycle", "stdinOnce",
    "volumeDevices",
)  # fmt: skip
_IGNORED_SECURITY = ("runAsNonRoot", "seccompProfile", "windowsOptions", "appArmorProfile")
_IGNORED_POD_SECURITY = ("runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "seccompProfile",
                         "windowsOptions", "appArmorProfile")  # fmt: skip
_IGNORED_DEPLOYMENT = ("selector", "strategy", "minReadySeconds", "revisionHistoryLimit",
                       "progressDeadlineSeconds", "paused")  # fmt: skip
_VOLUME_SOURCES = ("hostPath", "emptyDir", "configMap", "secret", "persistentVolumeClaim")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")  # fmt: skip
RESTART_POLICIES = ("Always", "OnFailure", "Never")


@record
class KeyRef:
    """``valueFrom.configMapKeyRef``/``secretKeyRef``: one key of a ConfigMap or Secret."""

    kind: str  # "configMap" or "secret"
    name: str
    key: str
    optional: bool
    path: str


@record
class EnvVar:
    """One ``env`` entry: a literal ``value``, or ``ref`` (a key), or ``field_path`` (fieldRef)."""

    name: str
    value: str = ""
    ref: KeyRef | None = None
    field_path: str = ""


@record
class EnvFrom:
    """One ``envFrom`` entry: every key of a ConfigMap or Secret, each name after ``prefix``."""

    kind: str  # "configMap" or "secret"
    name: str
    prefix: str
    optional: bool
    path: str


@record
class ContainerPort:
    """One ``ports`` entry; published on the host when ``host_port`` is set."""

    container_port: int
    host_port: int = 0
    protocol: str = "TCP"
    host_ip: str = ""
    name: str = ""


@record
class VolumeMount:
    """One ``volumeMounts`` entry."""

    name: str
    mount_path: str
    read_only: bool
    path: str


@record
class Probe:
    """An ``exec`` liveness or readiness probe, its timing in seconds (0: Kubernetes' default)."""

    command: list[str]
    initial_delay: int = 0
    period: int = 0
    timeout: int = 0
    failure_threshold: int = 0


@record
class SecurityContext:
    """A container's or a pod's ``securityContext`` (None: not set, the other level's counts)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool | None = None
    read_only_root: bool | None = None
    allow_privilege_escalation: bool | None = None


@record
class Container:
    """One entry of ``containers`` or ``initContainers``."""

    name: str
    image: str
    path: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    working_dir: str = ""
    env: list[EnvVar] = field(default_factory=list)
    env_from: list[EnvFrom] = field(default_factory=list)
    ports: list[ContainerPort] = field(default_factory=list)
    mounts: list[VolumeMount] = field(default_factory=list)
    cpu_millis: int = 0  # resources.limits.cpu in millicores (0: none)
    memory_bytes: int = 0  # resources.limits.memory (0: none)
    security: SecurityContext = field(default_factory=SecurityContext)
    liveness: Probe | None = None
    readiness: Probe | None = None
    pull_policy: str = ""
    tty: bool = False
    stdin: bool = False


@record
class KeyToPath:
    """One ``items`` entry of a configMap or secret volume: key ``key`` as file ``path``."""

    key: str
    path: str


@record
class Volume:
    """One ``volumes`` entry. ``source``: the host path, ConfigMap, Secret or claim name."""

    name: str
    kind: str  # one of _VOLUME_SOURCES
    path: str
    source: str = ""
    host_path_type: str = ""
    items: list[KeyToPath] = field(default_factory=list)
    optional: bool = False
    read_only: bool = False


@record
class Pod:
    """A pod to make: a Pod document, or one replica of a Deployment."""

    name: str
    path: str  # where its spec sits: "spec", or "spec.template.spec" in a Deployment
    where: str = ""  # "document N: " in a file of several documents, to put before paths
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    containers: list[Container] = field(default_factory=list)
    init_containers: list[Container] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    restart_policy: str = ""
    host_network: bool = False
    share_pid: bool = False
    hostname: str = ""
    host_aliases: list[str] = field(default_factory=list)  # "HOST:IP"
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    security: SecurityContext = field(default_factory=SecurityContext)


@record
class Manifest:
    """Every object of one ``kube play`` file."""

    pods: list[Pod] = field(default_factory=list)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    claims: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels


def load_documents(text: str) -> list[object]:
    """The YAML documents of ``text`` (empty ones dropped); ``InvalidArgument`` if it does not parse."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InvalidArgument(f"invalid YAML: {where}{problem}") from None


def parse_manifest(text: str) -> Manifest:
    """Every document of a ``kube play`` file, read and checked (see the module's docstring)."""
    from berth.kube.checks import check_manifest

    documents = load_documents(text)
    if not documents:
        raise InvalidArgument("no Kubernetes objects in the file")
    manifest = Manifest()
    for number, document in enumerate(documents, 1):
        prefix = f"document {number}: " if len(documents) > 1 else ""
        first_pod = len(manifest.pods)
        try:
            _read_document(Fields(document), manifest)
        except InvalidArgument as err:
            raise InvalidArgument(f"{prefix}{err}") from None
        for pod in manifest.pods[first_pod:]:
            pod.where = prefix
    check_manifest(manifest)
    return manifest


def _read_document(doc: Fields, manifest: Manifest) -> None:
    kind = doc.text("kind", required=True)
    doc.text("apiVersion", required=True)
    reader = _KINDS.get(kind)
    if reader is None:
        raise doc.fail("kind", f"unknown kind {kind!r}: want one of {', '.join(_KINDS)}")
    reader(doc, manifest)


def _metadata(doc: Fields) -> tuple[str, dict[str, str], dict[str, str]]:
    meta = doc.mapping("metadata")
    meta.allow(("name", "labels", "annotations", *_IGNORED_META))
    name = meta.text("name", required=True)
    return name, meta.string_map("labels"), meta.string_map("annotations")


def _read_pod(doc: Fields, manifest: Manifest) -> None:
    doc.allow(("apiVersion", "kind", "metadata", "spec", "status"))
    name, labels, annotations = _metadata(doc)
    manifest.pods.append(_pod(name, labels, annotations, doc.mapping("spec")))


def _read_deployment(doc: Fields, manifest: Manifest) -> None:
    doc.allow(("apiVersion", "kind", "metadata", "spec", "status"))
    name, _labels, annotations = _metadata(doc)
    spec = doc.mapping("spec")
    spec.allow(("replicas", "template", *_IGNORED_DEPLOYMENT))
    replicas = spec.integer("replicas", 1, minimum=0)
    template = spec.mapping("template")
    template.allow(("metadata", "spec"))
    meta = template.mapping("metadata")
    meta.allow(("name", "labels", "annotations", *_IGNORED_META))
    labels = meta.string_map("labels")
    meta.string_map("annotations")
    # podman 4.3: the pods take the template's labels and the Deployment's annotations.
    for replica in range(replicas or 0):
        pod = _pod(f"{name}-pod-{replica}", labels, annotations, template.mapping("spec"))
        manifest.pods.append(pod)


def _read_config_map(doc: Fields, manifest: Manifest) -> None:
    doc.allow(("apiVersion", "kind", "metadata", "data", "immutable"), ("binaryData",))
    name, _, _ = _metadata(doc)
    doc.boolean("immutable")
    manifest.config_maps[name] = doc.string_map("data")


def _read_secret(doc: Fields, manifest: Manifest) -> None:
    doc.allow(("apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"))
    name, _, _ = _metadata(doc)
    doc.text("type")
    doc.boolean("immutable")
    values: dict[str, bytes] = {}
    for key, encoded in doc.string_map("data").items():
        try:
            values[key] = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidArgument(f"{doc.at('data')}.{key}: not valid base64") from None
    for key, value in doc.string_map("stringData").items():
        values[key] = value.encode()
    manifest.secrets[name] = values


def _read_claim(doc: Fields, manifest: Manifest) -> None:
    doc.allow(("apiVersion", "kind", "metadata", "spec", "status"))
    name, labels, _ = _metadata(doc)
    spec = doc.mapping("spec")
    spec.allow(("accessModes", "resources", "storageClassName", "volumeMode", "selector", "volumeName",
                "dataSource", "dataSourceRef"))  # fmt: skip
    spec.strings("accessModes")
    manifest.claims[name] = labels


def _read_service(doc: Fields, manifest: Manifest) -> None:
    # Services route cluster traffic Berth has no cluster for: podman 4.3 skips them, and
    # ``kube generate -s`` writes one beside the pod, which must play again.
    _metadata(doc)


_KINDS = {
    "Pod": _read_pod,
    "Deployment": _read_deployment,
    "ConfigMap": _read_config_map,
    "Secret": _read_secret,
    "PersistentVolumeClaim": _read_claim,
    "Service": _read_service,
}


def _pod(name: str, labels: dict[str, str], annotations: dict[str, str], spec: Fields) -> Pod:
    spec.allow(
        ("containers", "initContainers", "volumes", "restartPolicy", "hostNetwork", "hostname",
         "shareProcessNamespace", "hostAliases", "dnsConfig", "securityContext", *_IGNORED_POD_SPEC),
    )  # fmt: skip
    policy = spec.text("restartPolicy")
    if policy and policy not in RESTART_POLICIES:
        raise spec.fail("restartPolicy", f"want one of {', '.join(RESTART_POLICIES)}, not {policy!r}")
    containers = [_container(c, init=False) for c in spec.items("containers")]
    if not containers:
        raise spec.fail("containers", "a pod needs at least one container")
    dns = spec.mapping("dnsConfig")
    dns.allow(("nameservers", "searches", "options"))
    return Pod(
        name=name,
        path=spec.path,
        labels=labels,
        annotations=annotations,
        containers=containers,
        init_containers=[_container(c, init=True) for c in spec.items("initContainers")],
        volumes=[_volume(v) for v in spec.items("volumes")],
        restart_policy=policy,
        host_network=bool(spec.boolean("hostNetwork", False)),
        share_pid=bool(spec.boolean("shareProcessNamespace", False)),
        hostname=spec.text("hostname"),
        host_aliases=[alias for item in spec.items("hostAliases") for alias in _host_alias(item)],
        dns=dns.strings("nameservers"),
        dns_search=dns.strings("searches"),
        dns_options=[_dns_option(o) for o in dns.items("options")],
        security=_security(spec.mapping("securityContext"), pod=True),
    )


def _host_alias(item: Fields) -> list[str]:
    item.allow(("ip", "hostnames"))
    ip = item.text("ip", required=True)
    return [f"{host}:{ip}" for host in item.strings("hostnames")]


def _dns_option(item: Fields) -> str:
    item.allow(("name", "value"))
    name = item.text("name", required=True)
    return f"{name}:{item.text('value')}" if item.has("value") else name


def _container(item: Fields, init: bool) -> Container:
    item.allow(
        ("name", "image", "command", "args", "workingDir", "ports", "env", "envFrom", "resources",
         "volumeMounts", "livenessProbe", "readinessProbe", "securityContext", "imagePullPolicy", "tty",
         "stdin", *_IGNORED_CONTAINER),
    )  # fmt: skip
    if init:
        # podman 4.3 refuses probes on init containers, which run to completion
        for key in ("livenessProbe", "readinessProbe"):
            if item.has(key):
                raise item.fail(key, "an init container cannot have a probe")
    resources = item.mapping("resources")
    resources.allow(("limits", "requests", "claims"))
    limits = resources.mapping("limits")
    limits.allow(("cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "hugepages-1Gi"))
    resources.mapping("requests").allow(("cpu", "memory", "ephemeral-storage"))
    pull_policy = item.text("imagePullPolicy")
    if pull_policy and pull_policy.lower() not in ("always", "never", "ifnotpresent"):
        raise item.fail("imagePullPolicy", f"want Always, Never or IfNotPresent, not {pull_policy!r}")
    return Container(
        name=item.text("name", required=True),
        image=item.text("image", required=True),
        path=item.path,
        command=item.strings("command"),
        args=item.strings("args"),
        working_dir=item.text("workingDir"),
        env=[_env(e) for e in item.items("env")],
        env_from=[_env_from(e) for e in item.items("envFrom")],
        ports=[_port(p) for p in item.items("ports")],
        mounts=[_mount(m) for m in item.items("volumeMounts")],
        cpu_millis=milli_value(_quantity(limits, "cpu")),
        memory_bytes=whole_value(_quantity(limits, "memory")),
        security=_security(item.mapping("securityContext"), pod=False),
        liveness=_probe(item, "livenessProbe"),
        readiness=_probe(item, "readinessProbe"),
        pull_policy=pull_policy,
        tty=bool(item.boolean("tty", False)),
        stdin=bool(item.boolean("stdin", False)),
    )


def _quantity(fields: Fields, key: str) -> Fraction:
    text = fields.scalar_text(key)
    return parse_quantity(text, fields.at(key)) if text else Fraction(0)


def _env(item: Fields) -> EnvVar:
    item.allow(("name", "value", "valueFrom"))
    name = item.text("name", required=True)
    if not item.has("valueFrom"):
        return EnvVar(name, value=item.text("value"))
    source = item.mapping("valueFrom")
    source.allow(("configMapKeyRef", "secretKeyRef", "fieldRef"), ("resourceFieldRef",))
    for key, kind in (("configMapKeyRef", "configMap"), ("secretKeyRef", "secret")):
        if source.has(key):
            ref = source.mapping(key)
            ref.allow(("name", "key", "optional"))
            return EnvVar(name, ref=KeyRef(kind, ref.text("name", required=True),
                                           ref.text("key", required=True),
                                           bool(ref.boolean("optional", False)), ref.path))  # fmt: skip
    if source.has("fieldRef"):
        ref = source.mapping("fieldRef")
        ref.allow(("fieldPath", "apiVersion"))
        return EnvVar(name, field_path=ref.text("fieldPath", required=True))
    raise item.fail("valueFrom", "want configMapKeyRef, secretKeyRef or fieldRef")


def _env_from(item: Fields) -> EnvFrom:
    item.allow(("configMapRef", "secretRef", "prefix"))
    for key, kind in (("configMapRef", "configMap"), ("secretRef", "secret")):
        if item.has(key):
            ref = item.mapping(key)
            ref.allow(("name", "optional"))
            return EnvFrom(kind, ref.text("name", required=True), item.text("prefix"),
                           bool(ref.boolean("optional", False)), ref.path)  # fmt: skip
    raise InvalidArgument(f"{item.path}: want configMapRef or secretRef")


def _port(item: Fields) -> ContainerPort:
    item.allow(("containerPort", "hostPort", "protocol", "hostIP", "name"))
    container_port = item.integer("containerPort", minimum=1)
    if container_port is None:
        raise item.fail("containerPort", "required")
    host_port = item.integer("hostPort", 0, minimum=0) or 0
    for key, port in (("containerPort", container_port), ("hostPort", host_port)):
        if port > 65535:
            raise item.fail(key, "must be at most 65535")
    protocol = item.text("protocol", "TCP")
    if protocol not in ("TCP", "UDP"):
        raise item.fail("protocol", f"want TCP or UDP, not {protocol!r}")
    return ContainerPort(container_port, host_port, protocol, item.text("hostIP"), item.text("name"))


def _mount(item: Fields) -> VolumeMount:
    item.allow(("name", "mountPath", "readOnly"), ("subPath", "subPathExpr", "mountPropagation"))
    mount_path = item.text("mountPath", required=True)
    if not mount_path.startswith("/"):
        raise item.fail("mountPath", f"{mount_path!r} is not an absolute path")
    return VolumeMount(item.text("name", required=True), mount_path, bool(item.boolean("readOnly", False)),
                       item.path)  # fmt: skip


def _probe(container: Fields, key: str) -> Probe | None:
    if not container.has(key):
        return None
    probe = container.mapping(key)
    timing = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")
    ignored = ("successThreshold", "terminationGracePeriodSeconds")
    probe.allow(("exec", *timing, *ignored), ("httpGet", "tcpSocket", "grpc"))
    action = probe.mapping("exec")
    action.allow(("command",))
    command = action.strings("command")
    if not command:
        raise probe.fail("exec.command", "required (Berth runs exec probes only)")
    return Probe(
        command,
        probe.integer("initialDelaySeconds", 0, minimum=0) or 0,
        probe.integer("periodSeconds", 0, minimum=0) or 0,
        probe.integer("timeoutSeconds", 0, minimum=0) or 0,
        probe.integer("failureThreshold", 0, minimum=0) or 0,
    )


def _security(ctx: Fields, pod: bool) -> SecurityContext:
    if pod:
        ctx.allow(("runAsUser", "runAsGroup", *_IGNORED_POD_SECURITY),
                  ("supplementalGroups", "sysctls", "seLinuxOptions"))  # fmt: skip
        return SecurityContext(ctx.integer("runAsUser", minimum=0), ctx.integer("runAsGroup", minimum=0))
    ctx.allow(("runAsUser", "runAsGroup", "capabilities", "privileged", "readOnlyRootFilesystem",
               "allowPrivilegeEscalation", *_IGNORED_SECURITY), ("seLinuxOptions", "procMount"))  # fmt: skip
    caps = ctx.mapping("capabilities")
    caps.allow(("add", "drop"))
    return SecurityContext(
        run_as_user=ctx.integer("runAsUser", minimum=0),
        run_as_group=ctx.integer("runAsGroup", minimum=0),
        cap_add=caps.strings("add"),
        cap_drop=caps.strings("drop"),
        privileged=ctx.boolean("privileged"),
        read_only_root=ctx.boolean("readOnlyRootFilesystem"),
        allow_privilege_escalation=ctx.boolean("allowPrivilegeEscalation"),
    )


def _volume(item: Fields) -> Volume:
    name = item.text("name", required=True)
    sources = [key for key in item.data if key != "name"]
    for key in sources:
        if key not in _VOLUME_SOURCES:  # podman 4.3 supports only these five sources too
            raise item.fail(key, f"volume source not supported: want one of {', '.join(_VOLUME_SOURCES)}")
    if len(sources) != 1:
        raise InvalidArgument(f"{item.path}: want exactly one of {', '.join(_VOLUME_SOURCES)}")
    kind = sources[0]
    source = item.mapping(kind)
    if kind == "hostPath":
        source.allow(("path", "type"))
        host_type = source.text("type")
        if host_type not in HOST_PATH_TYPES:
            raise source.fail("type", f"unknown hostPath type {host_type!r}")
        path = source.text("path", required=True)
        if not path.startswith("/"):
            raise source.fail("path", f"{path!r} is not an absolute path")
        return Volume(name, kind, item.path, source=path, host_path_type=host_type)
    if kind == "emptyDir":
        source.allow(("medium", "sizeLimit"))
        return Volume(name, kind, item.path)
    if kind == "persistentVolumeClaim":
        source.allow(("claimName", "readOnly"))
        return Volume(name, kind, item.path, source=source.text("claimName", required=True),
                      read_only=bool(source.boolean("readOnly", False)))  # fmt: skip
    name_key = "name" if kind == "configMap" else "secretName"
    source.allow((name_key, "items", "optional", "defaultMode"))
    items = []
    for entry in source.items("items"):
        entry.allow(("key", "path", "mode"))
        items.append(KeyToPath(entry.text("key", required=True), entry.text("path", required=True)))
    return Volume(name, kind, item.path, source=source.text(name_key, required=True), items=items,
                  optional=bool(source.boolean("optional", False)))  # fmt: skip
