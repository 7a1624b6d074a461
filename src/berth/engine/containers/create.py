"""``create``: validate the flags and record a new container with its bundle (root, volumes,
``config.json``); nothing runs yet. States follow podman: this one is ``configured``."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from berth.engine.containers.cleanup import release_image, remove_anonymous_volumes, remove_files
from berth.engine.containers.network_setup import (
    JOINED,
    check_ports_free,
    own_endpoint_request,
    published_ports,
)
from berth.engine.containers.oci_config import build_config, write_config
from berth.engine.engine import Engine, cgroup_path, new_id
from berth.engine.event_log import container_event
from berth.engine.metadata import ContainerRecord
from berth.engine.networks import bridge
from berth.engine.networks.etcfiles import etc_mounts
from berth.engine.options import (
    CreateOptions,
    IdMap,
    RestartPolicy,
    VolumeSpec,
    check_log_driver,
    check_name,
    id_mappings,
    parse_tmpfs,
    parse_volume,
)
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.images.store import ImageRoot


def _volume_mounts(
    engine: Engine, opts: CreateOptions, image_volumes: list[str]
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Bind mounts for ``-v`` and for the image's ``Volumes``, the volumes still to be created, and
    the container's anonymous volumes.

    As podman does, ``-v /path`` and every image volume (config.md#properties ``Volumes``) that no
    ``-v`` or ``--tmpfs`` covers get a new volume of their own, named by a random id.
    """
    from berth.engine.volumes.local import volume_data_dir
    from berth.engine.volumes.mount_options import processed_options

    specs = [parse_volume(text) for text in opts.volumes]
    inherited = _volumes_from(engine, opts.volumes_from)
    covered = {os.path.normpath(s.destination) for s in specs}
    covered |= {os.path.normpath(m["destination"]) for m in inherited}
    covered |= {os.path.normpath(parse_tmpfs(t)[0]) for t in opts.tmpfs}
    for dest in dict.fromkeys(os.path.normpath(v) for v in image_volumes):
        if dest.startswith("/") and dest not in covered:
            specs.append(VolumeSpec(dest))
    mounts, missing, anonymous = list(inherited), [], []
    known = {v.name for v in engine.db.volumes()}
    for spec in specs:
        name = spec.name
        if not spec.source and not name:
            name = new_id()
            anonymous.append(name)
        if name and name not in known:
            missing.append(name)
            known.add(name)
        source = spec.source or str(volume_data_dir(engine.config, name))
        # config.md#mounts: rro (mount_setattr), the propagation and the flags as podman adds them
        options = processed_options(spec)
        mounts.append({"destination": spec.destination, "type": "bind", "source": source, "options": options})
    return mounts, missing, anonymous


def _volumes_from(engine: Engine, refs: list[str]) -> list[dict[str, Any]]:
    """The volume and bind mounts of the containers ``refs`` name (``CONTAINER[:ro|rw]``: read-only
    or writable whatever they were; the generated /etc files are the container's own)."""
    from berth.engine.networks.etcfiles import ETC_FILES

    own = {f"/etc/{name}" for name in ETC_FILES}
    mounts = []
    for ref in refs:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"invalid --volumes-from {ref!r}: want CONTAINER[:ro|rw]")
        for mount in engine.db.container(name).mounts:
            if mount["destination"] in own:
                continue
            options = [o for o in mount["options"] if o not in ("ro", "rw") or not mode]
            mounts.append({**mount, "options": options + ([mode] if mode else [])})
    return mounts


def _image_root(engine: Engine, opts: CreateOptions, cid: str, name: str) -> ImageRoot:
    from berth.engine.images.store import ImageRoot, ImageSettings, image_rootfs

    if opts.rootfs:
        root = Path(opts.rootfs).absolute()
        if not root.is_dir():
            raise InvalidArgument(f"--rootfs {opts.rootfs}: not a directory")
        return ImageRoot(root, ImageSettings(), "", "")
    admit = None
    if engine.config.admission_policies and not opts.pod_infra:  # a pod's infra is Berth's own
        from berth.inventory.policy.admission import judge

        admit = judge(engine.config, opts, name)
    idmap = id_mappings(opts)
    if idmap is not None:
        _check_reachable(engine.config.root, idmap)
    # A container removed when it exits has a volatile root, as podman gives ``run --rm`` one: its
    # changes go with it, so its unmount need not sync the filesystem under the storage.
    volatile = opts.remove
    return image_rootfs(engine, opts.image, cid, opts.pull, opts.tls_verify, admit, idmap, volatile)


def _check_reachable(root: Path, idmap: tuple[tuple[IdMap, ...], tuple[IdMap, ...]]) -> None:
    """A container in a user namespace reaches its root filesystem (under the engine's storage
    ``root``) as the host ids of the namespace's root: every directory on the way must let them
    through (containerd makes its own 0711 for the same reason)."""
    from berth.image.snapshots.snapshotter import root_owner

    uid, gid = root_owner(idmap)
    for folder in (root, *root.parents):
        st = folder.stat()
        mode = st.st_mode
        if not (mode & 0o001 or (st.st_uid == uid and mode & 0o100) or (st.st_gid == gid and mode & 0o010)):
            raise InvalidArgument(
                f"--uidmap: the user namespace's root (host uid {uid}) cannot reach the storage root "
                f"{root}: {folder} does not let it through (chmod o+x {folder})"
            )


def create_container(engine: Engine, opts: CreateOptions) -> ContainerRecord:
    """Validate ``opts`` and record a new container with its bundle; nothing runs yet. With
    ``opts.pod`` it joins that pod (``berth.engine.containers.pod_member``)."""
    placement = None
    if opts.pod:
        from berth.engine.containers.pod_member import member_options, place

        placement = place(engine, opts)
        opts = member_options(opts, placement)
    if opts.name:
        check_name(opts.name)
    if bool(opts.image) == bool(opts.rootfs):
        raise InvalidArgument("give exactly one of an image or --rootfs DIR")
    if RestartPolicy.parse(opts.restart).name != "no" and opts.remove:
        raise InvalidArgument("--restart and --rm conflict: a removed container cannot be restarted")
    if opts.init_ctr not in ("", "always", "once"):
        raise InvalidArgument(f"invalid --init-ctr {opts.init_ctr!r}: want always or once")
    if opts.init_ctr and placement is None:
        raise InvalidArgument("--init-ctr needs --pod: init containers run when their pod starts")
    check_log_driver(opts)
    runtime = engine.runtime(opts.runtime)
    cid = new_id()
    name = opts.name or generate_name({c.name for c in engine.db.containers()})
    ports = published_ports(opts)
    infra = placement.infra if placement is not None else None  # whose namespaces it joins
    network = None if infra else bridge.resolve_network(engine.config, engine.db, opts.network)
    if ports and network is None:
        raise InvalidArgument("-p needs a bridge network (not --network none or host)")
    if opts.ip or opts.ip6 or opts.mac_address:
        if network is None:
            raise InvalidArgument("--ip, --ip6 and --mac-address need a bridge network (not none or host)")
        bridge.check_endpoint(network, own_endpoint_request(opts))
    if ports:
        check_ports_free(engine, ports)
    for text in opts.volumes:
        parse_volume(text)  # bad input fails before the image is unpacked
    paths = engine.paths(cid)
    from berth.engine.images.store import root_being_made

    # The root is mounted before the record names it: marked meanwhile, so a sweep spares it
    # while this process makes it and releases it if the process dies first.
    with root_being_made(engine.config, cid):
        made = _image_root(engine, opts, cid, name)
        rootfs, image = made.rootfs, made.settings
        try:
            volume_mounts, missing_volumes, anonymous = _volume_mounts(engine, opts, image.volumes)
            netns = None if opts.network == bridge.HOST else (str(paths.netns) if network else "")
            # A pod's container bind-mounts its infra's /etc files: one hosts, hostname and resolv.conf.
            etc_owner = engine.paths(infra.id) if infra else paths
            mounts = [*volume_mounts, *etc_mounts(etc_owner.userdata)]
            cgroup_parent = opts.cgroup_parent or engine.config.cgroup_parent
            config = build_config(opts, image, rootfs, cid, mounts, netns, cgroup_path(cgroup_parent, cid))
            if infra:
                network_mode = JOINED + infra.id  # podman's network mode for a pod's containers
            else:
                network_mode = network.name if network else (opts.network or bridge.NONE)
            record = ContainerRecord(
                id=cid,
                name=name,
                image=opts.image or opts.rootfs,
                runtime=runtime.name,
                config={
                    "options": opts.to_json(),
                    "rootfs": str(rootfs),
                    "stop_signal": opts.stop_signal or image.stop_signal or "SIGTERM",
                    "network": network_mode,
                    "hostname": config.get("hostname") or socket.gethostname(),  # --uts host: the host's
                    "args": config["process"]["args"],
                    "env": config["process"]["env"],
                    "cwd": config["process"]["cwd"],
                    "anonymous_volumes": anonymous,
                    "image_healthcheck": image.healthcheck,
                },
                mounts=mounts,
                image_id=made.image_id,
                image_digest=made.manifest_digest,
                pod=placement.pod.id if placement else "",
            )
            engine.db.add_container(record)
        except BaseException:
            release_image(engine, opts, cid)
            raise
    try:
        from berth.engine.volumes.local import create_volume, volume_data_dir

        for vol in missing_volumes:
            with contextlib.suppress(BerthError):
                create_volume(engine, vol)
        if missing_volumes:
            from berth.engine.volumes.copy_up import copy_up

            new = {str(volume_data_dir(engine.config, vol)) for vol in missing_volumes}
            for mount in volume_mounts:
                if mount["source"] in new:  # a new volume starts with what the image has there
                    copy_up(rootfs, mount["destination"], Path(mount["source"]))
        paths.userdata.mkdir(parents=True, exist_ok=True)
        if opts.log_path:
            if not os.path.isabs(opts.log_path):
                raise InvalidArgument(f"invalid --log-opt path={opts.log_path}: not an absolute path")
            Path(opts.log_path).parent.mkdir(parents=True, exist_ok=True)
            paths.log.symlink_to(opts.log_path)  # ``berth logs`` reads it where it always does
        write_config(paths, config)
    except BaseException:
        remove_files(engine, record)
        engine.db.remove_container(cid)
        remove_anonymous_volumes(engine, record)
        raise
    container_event(engine.config, record, "create")
    return record


_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fond",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "proud",
    "quiet",
    "swift",
    "witty",
]


_NOUNS = [
    "anchor",
    "buoy",
    "cargo",
    "dock",
    "ferry",
    "harbor",
    "keel",
    "mast",
    "pier",
    "quay",
    "rudder",
    "sail",
    "tide",
    "wharf",
    "yacht",
]


def generate_name(taken: set[str]) -> str:
    """A random ``adjective_noun_hex`` name not in ``taken`` (containers' and pods' default names)."""
    while True:
        pick = os.urandom(4)
        name = f"{_ADJECTIVES[pick[0] % len(_ADJECTIVES)]}_{_NOUNS[pick[1] % len(_NOUNS)]}_{pick[2:].hex()}"
        if name not in taken:
            return name
