"""``kube play``: make and start what a manifest describes, or nothing at all.

Everything that can be checked is checked before anything is made: the manifest (its fields and
cross references), names already taken, hostPath types, free host ports, and the images (pulled
as ``berth run`` pulls them). Then the PVCs' volumes, the volumes filled from ConfigMaps and
Secrets, the pods and their containers are made, and the pods started (the engine's
``start_pod`` runs the init containers first). If a step fails, what this play made is undone in
reverse order and the error is raised: the host is left as it was.
"""

from __future__ import annotations

import os
import stat
from functools import partial

from berth.errors import AlreadyExists, BerthError, InvalidArgument, NotFound
from berth.kube.plan import SOURCE_LABEL, plan_pod, publish_text
from berth.spec.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.engine.engine import Engine
    from berth.kube.manifest import Manifest
    from berth.kube.plan import FilledVolume, HostPath, PodPlan


@record
class PlayedPod:
    """One pod ``kube play`` made: its id and its containers' ids (init containers excluded)."""

    id: str
    containers: list[str] = field(default_factory=list)


@record
class PlayReport:
    """What ``kube play`` made, as podman's report lists it."""

    volumes: list[str] = field(default_factory=list)
    pods: list[PlayedPod] = field(default_factory=list)


def play(engine: Engine, manifest: Manifest, start: bool = True, replace: bool = False) -> PlayReport:
    """Make (and with ``start`` start) every pod of ``manifest``; with ``replace``, first remove
    the pods of the same names (``kube down``). All or nothing (see the module's docstring)."""
    plans = [plan_pod(manifest, pod) for pod in manifest.pods]
    if replace:
        from berth.kube.down import down

        down(engine, manifest)
    _check_names_free(engine, plans)
    for plan in plans:
        for host_path in plan.host_paths:
            _check_host_path(host_path)
    _check_ports_free(engine, manifest)
    _ensure_images(engine, manifest)
    undo: list[Callable[[], object]] = []
    try:
        return _make(engine, manifest, plans, start, undo)
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # undo all it can; the first error is the one to report
                continue
        raise


def _make(
    engine: Engine, manifest: Manifest, plans: list[PodPlan], start: bool, undo: list[Callable[[], object]]
) -> PlayReport:
    from berth.engine.containers.create import create_container
    from berth.engine.options import CreateOptions
    from berth.engine.pods.create import create_pod
    from berth.engine.pods.lifecycle import start_pod
    from berth.engine.pods.options import PodOptions
    from berth.engine.pods.remove import remove_pod
    from berth.engine.volumes.local import create_volume, remove_volume

    report = PlayReport()
    known = {v.name for v in engine.db.volumes()}
    for name, labels in manifest.claims.items():  # podman makes a PVC's volume, and keeps it
        if name not in known:
            create_volume(engine, name, labels)
            undo.append(partial(remove_volume, engine, name))
            known.add(name)
        report.volumes.append(name)
    for plan in plans:
        for host_path in plan.host_paths:
            _make_host_path(host_path, undo)
        for filled in plan.filled_volumes:
            if filled.name not in known:
                create_volume(engine, filled.name, {SOURCE_LABEL: filled.kind})
                undo.append(partial(remove_volume, engine, filled.name))
                known.add(filled.name)
            _fill(engine, filled)
    for plan in plans:
        pod = create_pod(engine, PodOptions(**plan.pod))
        undo.append(partial(remove_pod, engine, pod.id, force=True))
        played = PlayedPod(pod.id)
        for options in plan.containers:
            created = create_container(engine, CreateOptions(**{**options, "pull": "never"}))
            if not options["init_ctr"]:
                played.containers.append(created.id)
        report.pods.append(played)
    if start:
        for played in report.pods:
            start_pod(engine, played.id)
    return report


def _check_names_free(engine: Engine, plans: list[PodPlan]) -> None:
    for plan in plans:
        try:
            engine.db.pod(plan.name)
        except NotFound:
            pass
        else:
            raise AlreadyExists(f"pod {plan.name} already exists: remove it first, or play with --replace")
        for options in plan.containers:
            try:
                engine.db.container(options["name"])
            except NotFound:
                continue
            raise AlreadyExists(f"container name {options['name']!r} is already in use")


# hostPath types (Kubernetes' volumes docs): what the path must be, by its stat mode
_HOST_PATH_KINDS = {
    "Directory": stat.S_ISDIR, "DirectoryOrCreate": stat.S_ISDIR, "File": stat.S_ISREG,
    "FileOrCreate": stat.S_ISREG, "Socket": stat.S_ISSOCK, "CharDevice": stat.S_ISCHR,
    "BlockDevice": stat.S_ISBLK,
}  # fmt: skip


def _check_host_path(host_path: HostPath) -> None:
    """Fail unless the path is what its ``type`` asks (an ``...OrCreate`` path may be missing)."""
    try:
        mode = os.stat(host_path.path).st_mode
    except FileNotFoundError:
        if host_path.type in ("", "DirectoryOrCreate", "FileOrCreate"):
            return  # made by _make_host_path (podman makes an untyped one as a directory)
        raise InvalidArgument(f"{host_path.where}.path: {host_path.path} does not exist") from None
    test = _HOST_PATH_KINDS.get(host_path.type)
    if test is not None and not test(mode):
        raise InvalidArgument(f"{host_path.where}.type: {host_path.path} is not a {host_path.type}")


def _make_host_path(host_path: HostPath, undo: list[Callable[[], object]]) -> None:
    if os.path.lexists(host_path.path):
        return
    if host_path.type == "FileOrCreate":
        os.makedirs(os.path.dirname(host_path.path), exist_ok=True)
        with open(host_path.path, "x"):
            pass
        os.chmod(host_path.path, 0o644)
        undo.append(partial(os.unlink, host_path.path))
    else:
        os.makedirs(host_path.path, 0o755)
        undo.append(partial(os.rmdir, host_path.path))


def _fill(engine: Engine, filled: FilledVolume) -> None:
    """Write one file per key into the volume (a Secret's readable by its owner only)."""
    from berth.engine.volumes.local import volume_data_dir
    from berth.fsutil import atomic_write

    data = volume_data_dir(engine.config, filled.name)
    for name, content in filled.files.items():
        target = data / name
        if os.path.normpath(target) != str(target) or not str(target).startswith(f"{data}/"):
            raise InvalidArgument(f"{filled.kind} {filled.name}: item path {name!r} leaves its volume")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, content, mode=0o600 if filled.kind == "secret" else 0o644)


def _check_ports_free(engine: Engine, manifest: Manifest) -> None:
    from berth.engine.containers.network_setup import check_ports_free
    from berth.engine.options import parse_publish

    for pod in manifest.pods:
        for ctr in pod.containers:
            for i, port in enumerate(ctr.ports):
                if not port.host_port:
                    continue
                mapping = parse_publish(publish_text(port)).to_cni()
                try:
                    check_ports_free(engine, [mapping])
                except InvalidArgument as err:
                    raise InvalidArgument(f"{pod.where}{ctr.path}.ports[{i}].hostPort: {err}") from None


def _ensure_images(engine: Engine, manifest: Manifest) -> None:
    """Have every image in the store before anything is made, as ``berth run`` pulls them (an
    error names the container's ``image`` field)."""
    wanted = {ctr.image: (pod.where + ctr.path, ctr.pull_policy.lower()) for pod in manifest.pods
              for ctr in [*pod.init_containers, *pod.containers]}  # fmt: skip
    for image, (where, policy) in wanted.items():
        try:
            _ensure_image(engine, image, policy)
        except BerthError as err:
            raise type(err)(f"{where}.image: {image}: {err}") from None


def _ensure_image(engine: Engine, image: str, policy: str) -> None:
    from berth.engine.images.pull import local_names, pull_image
    from berth.engine.images.store import images_root
    from berth.image.catalog import resolve_first
    from berth.image.images import ImageStore

    if policy != "always":
        store = ImageStore(images_root(engine.config))
        try:
            resolve_first(store, local_names(image))
            return
        except NotFound:
            if policy == "never":
                raise NotFound("not in the store, and its imagePullPolicy is Never") from None
        finally:
            store.close()
    pull_image(engine.config, image, None)
