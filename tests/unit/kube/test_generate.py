"""berth.kube.generate: pods back into YAML that plays again to the same plan."""

from __future__ import annotations

import yaml

from berth.engine.metadata import ContainerRecord, PodRecord
from berth.kube.generate import lone_document, pod_document, service_document
from berth.kube.manifest import parse_manifest
from berth.kube.plan import plan_pod
from tests.unit.kube.test_plan import DEMO


def _records(plan_pod_name: str, pod: dict[str, object], containers: list[dict[str, object]]) -> tuple:
    record = PodRecord(id="p" * 64, name=plan_pod_name, infra_id="i" * 64, config=pod,
                       labels=pod["labels"], annotations=pod["annotations"])  # type: ignore[arg-type]  # fmt: skip
    members = [
        ContainerRecord(
            id=f"{n:064d}",
            name=str(c["name"]),
            image=str(c["image"]),
            config={"options": c},
            runtime="berth-runtime",
            pod=record.id,
            created_at=float(n),
        )
        for n, c in enumerate(containers)
    ]
    return record, members


def test_a_played_pod_generates_yaml_that_plays_to_the_same_plan() -> None:
    manifest = parse_manifest(DEMO)
    first = plan_pod(manifest, manifest.pods[0])
    # once-init containers are gone after the pod starts; keep only the app's for the comparison
    pod, members = _records(first.name, first.pod, first.containers[1:])
    text = yaml.safe_dump(pod_document(pod, members))
    again = parse_manifest(text)
    second = plan_pod(again, again.pods[0])
    assert second.pod == first.pod
    (ctr,) = second.containers
    expected = dict(first.containers[1])
    # the ConfigMap's volume comes back as the named volume that holds its files
    assert ctr.pop("env") == expected.pop("env")
    assert ctr == expected


def test_a_lone_container_becomes_a_pod_named_after_it() -> None:
    options = {"name": "web", "image": "localhost/bb:1", "publish": ["8080:80/tcp"], "restart": "always",
               "health_test": ["CMD", "/bin/true"]}  # fmt: skip
    record = ContainerRecord(id="c" * 64, name="web", image="localhost/bb:1", config={"options": options},
                             runtime="berth-runtime")  # fmt: skip
    document = lone_document(record)
    assert document["metadata"]["name"] == "web-pod"
    (ctr,) = document["spec"]["containers"]
    assert ctr["ports"] == [{"containerPort": 80, "hostPort": 8080}]
    assert ctr["livenessProbe"] == {"exec": {"command": ["/bin/true"]}}
    assert document["spec"]["restartPolicy"] == "Always"
    service = service_document(document)
    assert service["spec"]["ports"][0]["nodePort"] == 8080
    played = parse_manifest(yaml.safe_dump_all([document, service]))
    assert [p.name for p in played.pods] == ["web-pod"]
