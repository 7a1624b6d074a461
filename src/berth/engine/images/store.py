"""A container's root filesystem from an image: the seam between the engine and ``berth.image``.

The image is resolved in the image store under ``<root>/images`` (where ``berth pull`` puts it) to
the manifest for this host's platform; each layer is unpacked once into the snapshotter under
``<root>/snapshots`` (keyed by chain ID, image-spec config.md#layer-chainid); the container gets a
writable overlay root on top of that chain, keyed by its id. The root stays mounted from ``create``
to ``rm``, so the container keeps its changes across stop and start, as podman's do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from berth.errors import BerthError, InvalidState, NotFound
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.engine.config import EngineConfig
    from berth.engine.engine import Engine
    from berth.image.images import ImageStore, ResolvedImage
    from berth.image.snapshots import Snapshotter
    from berth.image.snapshots.snapshotter import IdMaps
    from berth.spec.digest import Digest


@record
class ImageSettings:
    """The parts of an image config (image-spec config.md#properties) a container inherits."""

    env: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    #: Docker's ``Healthcheck`` from the image config (``berth.engine.containers.health`` reads it)
    healthcheck: dict[str, Any] = field(default_factory=dict)


@record(frozen=True)
class ImageRoot:
    """A container's mounted root made from an image, and what the container keeps of the image."""

    rootfs: Path
    settings: ImageSettings
    image_id: str  # the config's digest, sha256:...
    manifest_digest: str


def images_root(config: EngineConfig) -> Path:
    """The image store's directory (shared with ``berth pull``'s ``berth:`` transport)."""
    return config.root / "images"


def snapshotter(config: EngineConfig) -> Snapshotter:
    """The snapshotter holding unpacked layers and container roots."""
    from berth.image.snapshots import Snapshotter

    return Snapshotter(config.root / "snapshots")


def _resolve_local(store: ImageStore, reference: str) -> ResolvedImage:
    """The stored image ``reference`` names: an image ID (or a prefix of one) first, as docker
    and podman take one wherever a name goes, else a name in podman's lookup order."""
    from berth.engine.images.pull import local_names
    from berth.image.catalog import find_image, looks_like_id, resolve_first

    if looks_like_id(reference):
        try:
            entry, _record = find_image(store, reference)
            return store.resolve(entry.records[0].name)
        except NotFound:
            pass  # a name of hex digits, then
    try:
        return resolve_first(store, local_names(reference))
    except BerthError:
        found = _by_repository_suffix(store, reference)
        if found is None:
            raise
        return store.resolve(found)


def _by_repository_suffix(store: ImageStore, reference: str) -> str | None:
    """podman's last resort for a short name: the newest stored image whose repository ends with
    it, with the same tag (``alpine`` finds ``quay.io/libpod/alpine:latest``)."""
    from berth.spec.reference import is_short_name

    if "@" in reference or not is_short_name(reference):
        return None
    repo, tag = reference.rsplit(":", 1) if ":" in reference else (reference, "latest")
    for image in sorted(store.list(), key=lambda r: -r.updated):
        name_repo, _, name_tag = image.name.rpartition(":")
        if name_tag == tag and name_repo.endswith(f"/{repo}"):
            return image.name
    return None


def image_rootfs(
    engine: Engine,
    reference: str,
    cid: str,
    pull: str = "never",
    tls_verify: bool | None = None,
    admit: Callable[[ImageStore, ResolvedImage], None] | None = None,
    idmap: IdMaps | None = None,
    volatile: bool = False,
) -> ImageRoot:
    """Unpack ``reference``'s layers (once) and mount a writable root for container ``cid``.

    ``pull`` is podman's policy: ``missing`` fetches the image from its registry when the store
    lacks it, ``always`` fetches it first in any case, ``never`` does not fetch. ``admit`` judges
    the image once it is in the store, before anything of the container is made (it raises to
    refuse). ``idmap`` makes the root for a container in a user namespace with those mappings;
    ``volatile`` one whose changes need never reach the disk (``Snapshotter.prepare``).
    Returns the mounted root, the image config's container defaults (config.md#properties) and the
    image's config and manifest digests.
    """
    from berth.engine.images.pull import check_policy, pull_image
    from berth.image.images import ImageStore

    pulled = pull_image(engine.config, reference, tls_verify) if check_policy(pull) == "always" else None
    store = ImageStore(images_root(engine.config))
    try:
        try:
            resolved = store.resolve(pulled) if pulled else _resolve_local(store, reference)
        except NotFound as err:
            if pull != "missing":
                raise NotFound(f"{err}: pull it first (berth pull {reference})") from None
            store.close()
            pulled = pull_image(engine.config, reference, tls_verify)
            store = ImageStore(images_root(engine.config))
            resolved = store.resolve(pulled)
        if admit is not None:
            admit(store, resolved)
        snaps = snapshotter(engine.config)
        active = snaps.prepare(cid, unpack_layers(store, snaps, resolved, reference), idmap, volatile)
        cfg = resolved.config.config
        settings = ImageSettings(
            env=list(cfg.env),
            entrypoint=list(cfg.entrypoint or []),
            cmd=list(cfg.cmd or []),
            working_dir=cfg.working_dir,
            user=cfg.user,
            stop_signal=cfg.stop_signal,
            labels=dict(cfg.labels),
            volumes=list(cfg.volumes),
            healthcheck=dict(cfg.healthcheck or {}),
        )
        return ImageRoot(
            active.rootfs, settings, str(resolved.manifest.config.digest), str(resolved.descriptor.digest)
        )
    finally:
        store.close()


def unpack_layers(
    store: ImageStore, snaps: Snapshotter, resolved: ResolvedImage, reference: str
) -> Digest | None:
    """Unpack ``resolved``'s layers into snapshots (each once); return the top chain ID."""
    parent = None
    layers = resolved.manifest.layers
    if len(layers) != len(resolved.config.diff_ids):
        raise BerthError(
            f"image {reference}: {len(layers)} layers but {len(resolved.config.diff_ids)} diff IDs"
        )
    for layer, diff_id in zip(layers, resolved.config.diff_ids, strict=True):
        with store.content.open(layer.digest) as blob:
            parent = snaps.unpack(blob, parent, media_type=layer.media_type, diff_id=diff_id).chain_id
    return parent


def release_rootfs(engine: Engine, cid: str) -> None:
    """Unmount and delete container ``cid``'s writable root; no error if it has none.

    A root still busy (a process elsewhere has a file open in it, or another mount namespace
    holds it) is detached lazily, so removing the container never leaves the mount behind.
    """
    with contextlib.suppress(NotFound):
        _release_busy(snapshotter(engine.config), cid)


#: The first word of a root a process prepares for itself (a build's step), not for a container.
_OWNED = "owned"


def owned_root_key(what: str) -> str:
    """A snapshot key for a root the calling process prepares for itself (a build step's, say):
    it names the process (pid and start time), so ``stray_roots`` spares it while that runs."""
    from berth.image.store.leases import this_process

    owner = this_process()
    return f"{_OWNED}-{owner.pid}-{owner.start}-{what}-{os.urandom(6).hex()}"


def owner_lives(key: str) -> bool:
    """Whether ``key`` (an ``owned_root_key``, or any name made the same way) names a process
    that still runs."""
    from berth.image.store.leases import Owner

    word, pid, start, *_ = [*key.split("-", 3), "", "", ""]
    return word == _OWNED and pid.isdigit() and start.isdigit() and Owner(int(pid), int(start)).alive()


def is_owned(key: str) -> bool:
    """Whether ``key`` was made by ``owned_root_key`` (or names a process the same way)."""
    return key.startswith(f"{_OWNED}-")


def _being_made_dir(config: EngineConfig) -> Path:
    return config.root / "creating"


@contextlib.contextmanager
def root_being_made(config: EngineConfig, cid: str) -> Iterator[None]:
    """Mark container ``cid``'s root as this process's to record for the ``with`` block (from
    before its ``prepare`` until the container's record is written): ``stray_roots`` spares the
    root while this process runs, and releases it if the process dies before the record is."""
    from berth.image.store.leases import this_process

    folder = _being_made_dir(config)
    folder.mkdir(exist_ok=True)
    owner = this_process()
    # Named as an owned key is, so ``owner_lives`` reads the maker from the name alone.
    mark = folder / f"{_OWNED}-{owner.pid}-{owner.start}-{cid}"
    mark.touch()
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def stray_roots(engine: Engine) -> None:
    """Release roots whose container is gone or was never recorded (a command killed between
    create steps), or whose owning process is (a build killed mid-step). Roots that live
    processes are still making are spared."""
    # The marks are read before the records: a create writes its record before it drops its mark,
    # so a root being made is seen by one or the other.
    folder = _being_made_dir(engine.config)
    marks = os.listdir(folder) if folder.is_dir() else []
    live_makers = set()
    for mark in marks:
        if owner_lives(mark):
            live_makers.add(mark.split("-", 3)[3])
        else:
            (folder / mark).unlink(missing_ok=True)
    known = {r.id for r in engine.db.containers()}
    spared = known | live_makers
    _release_roots(engine.config, lambda key: key not in spared and not owner_lives(key))


def release_dead_owned_roots(config: EngineConfig) -> None:
    """Release the roots that processes prepared for themselves and died holding (a killed
    build's steps); the roots of containers and of live processes stay."""
    _release_roots(config, lambda key: is_owned(key) and not owner_lives(key))


def _release_roots(config: EngineConfig, doomed: Callable[[str], bool]) -> None:
    active = config.root / "snapshots" / "active"
    if not active.is_dir():
        return
    for entry in active.iterdir():
        if doomed(entry.name):
            with contextlib.suppress(BerthError, OSError):
                _release_busy(snapshotter(config), entry.name)


def _release_busy(snaps: Snapshotter, key: str) -> None:
    """Release the root ``key``; one still busy (a process elsewhere has a file open in it, or
    another mount namespace holds it) is detached lazily first, so its mount never stays."""
    try:
        snaps.release(key)
    except InvalidState:
        import subprocess

        # (named by path: a root whose prepare was killed has no record to read it from)
        subprocess.run(["umount", "--lazy", str(snaps.root / "active" / key / "rootfs")], capture_output=True)
        snaps.release(key)


def _held_dir(config: EngineConfig) -> Path:
    return config.root / "snapshots" / "held"


def hold_chains(config: EngineConfig, key: str, chains: Iterable[Digest]) -> None:
    """Record that the process owning ``key`` (an ``owned_root_key``) builds on the snapshots
    ``chains``, which no image needs yet: ``prune_snapshots`` keeps them while it runs. Written
    before such a snapshot is made, so a prune that lists it also sees it held."""
    from berth.fsutil import atomic_write

    _held_dir(config).mkdir(parents=True, exist_ok=True)
    atomic_write(_held_dir(config) / key, "".join(f"{c}\n" for c in chains).encode(), durable=False)


def release_chains(config: EngineConfig, key: str) -> None:
    """Forget what ``hold_chains`` recorded for ``key``."""
    with contextlib.suppress(FileNotFoundError):
        (_held_dir(config) / key).unlink()


def held_chains(config: EngineConfig) -> set[Digest]:
    """The chains live processes hold; the records of dead ones (a killed build) are dropped."""
    from berth.spec.digest import Digest

    held: set[Digest] = set()
    if not _held_dir(config).is_dir():
        return held
    for entry in _held_dir(config).iterdir():
        if not owner_lives(entry.name):
            release_chains(config, entry.name)
            continue
        with contextlib.suppress(FileNotFoundError):
            held.update(Digest.parse(line) for line in entry.read_text().split())
    return held


def image_users(config: EngineConfig, chains: Mapping[str, Digest | None]) -> dict[str, list[str]]:
    """Image ID (``sha256:...``) -> names of the containers made from it. Reads only.

    A container's record keeps its image's ID. One made before the record did (schema 1) is matched
    by the snapshot its root builds on: ``chains`` gives each image's top chain ID, and every image
    with that chain counts as used. ``--rootfs`` containers use no image.
    """
    if not config.db_path.exists():
        return {}
    from berth.engine.metadata import Metadata

    with Metadata(config.db_path) as db:
        containers = db.containers()
    users: dict[str, list[str]] = {}
    legacy = [c for c in containers if not c.image_id]
    for container in containers:
        if container.image_id:
            users.setdefault(container.image_id, []).append(container.name)
    if legacy and (config.root / "snapshots" / "active").is_dir():
        snaps = snapshotter(config)
        for container in legacy:
            try:
                parent = snaps.active(container.id).parent
            except NotFound:
                continue  # made with --rootfs, or removed meanwhile
            for image_id, chain in chains.items():
                if chain == parent:
                    users.setdefault(image_id, []).append(container.name)
    return users


def prune_snapshots(config: EngineConfig, needed_chain_ids: Iterable[Digest]) -> list[Digest]:
    """Remove the unpacked layers (snapshots) whose chain ID is not needed; returns those removed.

    One that a container's root still builds on stays: the snapshotter refuses to remove it; so
    does one a running build holds (``hold_chains``; read after listing, see there).
    """
    if not (config.root / "snapshots" / "snapshots").is_dir():
        return []
    snaps = snapshotter(config)
    listed = snaps.snapshots()
    needed = set(needed_chain_ids) | held_chains(config)
    doomed = [s.chain_id for s in listed if s.chain_id not in needed]
    doomed.sort(key=lambda chain: len(snaps.chain(chain)), reverse=True)  # children before parents
    removed = []
    for chain in doomed:
        try:
            snaps.remove(chain)
        except BerthError:
            continue
        removed.append(chain)
    return removed
