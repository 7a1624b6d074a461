"""``kube down`` (and ``kube play --down``): remove what ``kube play`` made for a manifest.

The manifest's pods are killed (no grace period: podman 4.3's ``kube down`` stops them with a
timeout of 0) and removed with their containers and those containers'
anonymous (emptyDir) volumes; the volumes play filled from ConfigMaps and Secrets go too once no
container uses them. A PersistentVolumeClaim's volume stays, as podman keeps it: it holds data.
"""

from __future__ import annotations

from berth.errors import NotFound
from berth.kube.plan import SOURCE_LABEL, plan_pod
from berth.spec.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.engine import Engine
    from berth.kube.manifest import Manifest


@record
class DownReport:
    """The ids of the pods ``kube down`` stopped and removed, and the volumes it removed."""

    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


def down(engine: Engine, manifest: Manifest) -> DownReport:
    """Remove the pods of ``manifest`` that exist, and play's ConfigMap and Secret volumes."""
    from berth.engine.pods.lifecycle import stop_pod
    from berth.engine.pods.remove import remove_pod
    from berth.engine.volumes.local import remove_volume, volume_users

    report = DownReport()
    for pod_spec in manifest.pods:
        try:
            pod = engine.db.pod(pod_spec.name)
        except NotFound:
            continue
        stop_pod(engine, pod.id, timeout=0)  # SIGKILL at once, as podman 4.3's kube down
        report.stopped.append(pod.id)
        report.removed.append(remove_pod(engine, pod.id, force=True))
    filled = {v.name for pod in manifest.pods for v in plan_pod(manifest, pod).filled_volumes}
    for volume in engine.db.volumes():
        if volume.name in filled and SOURCE_LABEL in volume.labels and not volume_users(engine, volume.name):
            remove_volume(engine, volume.name)
            report.volumes.append(volume.name)
    return report
