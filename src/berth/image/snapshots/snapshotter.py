"""Snapshots: each layer unpacked once, container roots as overlays of them.

Layout under the snapshotter's root::

    snapshots/<chain-id hex>/fs/         one layer, unpacked in overlay form (apply_layer overlay=True)
    snapshots/<chain-id hex>/info.json   chain ID, diff ID, parent chain ID
    snapshots/<chain-id hex>/flat/       (made on demand) the merged view of the chain up to here
    active/<key>/upper, work, rootfs     a container's writable layer and its mounted root
    active/<key>/info.json               parent chain ID and how the root is provided
    tmp/                                 scratch: unpacks happen here and are renamed into place
    locks/                               flock files

A snapshot is keyed by its chain ID (config.md#layer-chainid), so a layer shared by two images is
unpacked once, and two processes unpacking the same layer serialise on a per-snapshot lock; the
loser finds the winner's snapshot and returns it. Nothing half-unpacked is ever under
``snapshots/``: unpacks go to ``tmp/`` and are renamed into place.

Overlay mounts name the chain's ``fs`` directories as ``lowerdir`` (top layer first). The legacy
mount(2) data is limited to one page (4096 bytes); when the absolute paths do not fit, the mount
is made from a child process whose working directory is ``snapshots/``, with relative paths
(about 60 layers fit); beyond that the lowest layers are merged once into the ``flat/``
directory of the deepest snapshot that still leaves room, and that one directory stands in for
them. Where overlayfs is unavailable (``mode="copy"``, or ``"auto"`` after a failed mount) the
container root is a plain copy of the merged chain.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from berth.errors import AlreadyExists, DigestMismatch, InvalidArgument, InvalidState, NotFound, Unsupported
from berth.fsutil import atomic_write, fsync_dir, locked, remove_path
from berth.image import layers
from berth.image.snapshots import _mount
from berth.image.snapshots.chainid import chain_id
from berth.spec.digest import Digest
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Literal, Protocol

    from berth.image.layers import Compression, PackResult, Writable

    Mode = Literal["auto", "overlay", "copy"]

    class _Readable(Protocol):
        def read(self, n: int = ..., /) -> bytes: ...


_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MOUNT_DATA_MAX = 4095  # one page, less the terminating NUL
# Features whose upper directories are not self-contained changesets: keep them off.
_OVERLAY_FIXED = "index=off,redirect_dir=off,metacopy=off"


def _escape(path: Path) -> str:
    """A path as an overlayfs option value: ``\\``, ``,`` and ``:`` escaped with a backslash."""
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


#: A user namespace's mappings: (uid maps, gid maps), each map (containerID, hostID, size).
IdMaps = tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]


@record(frozen=True)
class SnapshotInfo:
    """A committed snapshot: one layer on top of its parent chain."""

    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    #: The layer's directory (overlay form: whiteouts are 0/0 character devices).
    path: Path


@record(frozen=True)
class ActiveSnapshot:
    """A container's writable root on top of a snapshot chain."""

    key: str
    parent: Digest | None
    #: The container's root filesystem (an overlay mount, or a plain copy in copy mode).
    rootfs: Path
    #: The overlay upper directory (the container's changes); ``None`` in copy mode.
    upper: Path | None
    #: ``"overlay"`` or ``"copy"``.
    kind: str
    #: The user namespace mappings the root was made for (its layers idmapped), or None.
    idmap: IdMaps | None = None
    #: Whether the overlay is mounted ``volatile`` (its changes never synced to the disk).
    volatile: bool = False


class Snapshotter:
    """Layer snapshots and container roots under ``root``.

    Usage::

        snaps = Snapshotter("/var/lib/berth/snapshots")
        parent = None
        for layer in manifest.layers:
            with store.open(layer.digest) as blob:
                parent = snaps.unpack(blob, parent, media_type=layer.media_type).chain_id
        active = snaps.prepare("container-1", parent)   # overlay mounted at active.rootfs
        ...
        snaps.release("container-1")                    # unmount and remove
    """

    def __init__(self, root: str | os.PathLike[str], mode: Mode = "auto") -> None:
        self.root = Path(root)
        self.mode = mode
        for sub in ("snapshots", "active", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.cleanup()

    # -- committed snapshots ----------------------------------------------------------------

    def _dir(self, chain: Digest) -> Path:
        return self.root / "snapshots" / chain.encoded

    def exists(self, chain: Digest) -> bool:
        """Whether the snapshot ``chain`` has been unpacked."""
        return (self._dir(chain) / "info.json").exists()

    def get(self, chain: Digest) -> SnapshotInfo:
        """The snapshot ``chain``; ``NotFound`` if it has not been unpacked."""
        try:
            doc = json.loads((self._dir(chain) / "info.json").read_text())
        except FileNotFoundError:
            raise NotFound(f"snapshot {chain} not found") from None
        parent = doc.get("parent")
        return SnapshotInfo(
            chain_id=Digest.parse(doc["chainID"]),
            diff_id=Digest.parse(doc["diffID"]),
            parent=Digest.parse(parent) if parent else None,
            path=self._dir(chain) / "fs",
        )

    def snapshots(self) -> list[SnapshotInfo]:
        """Every committed snapshot."""
        out = []
        for entry in sorted((self.root / "snapshots").iterdir()):
            with contextlib.suppress(NotFound):
                out.append(self.get(Digest("sha256", entry.name)))
        return out

    def chain(self, top: Digest | None) -> list[SnapshotInfo]:
        """The snapshots from ``top`` down to the base layer (top first)."""
        out = []
        while top is not None:
            info = self.get(top)
            out.append(info)
            top = info.parent
        return out

    def unpack(
        self,
        blob: _Readable,
        parent: Digest | None,
        *,
        media_type: str | None = None,
        diff_id: Digest | None = None,
    ) -> SnapshotInfo:
        """Unpack a layer blob on top of the snapshot ``parent`` (``None`` for a base layer).

        With ``diff_id`` (from the image config's ``rootfs.diff_ids``) an existing snapshot is
        returned without reading the blob, and the unpacked stream must hash to it
        (``DigestMismatch`` otherwise). Bad input leaves nothing behind.
        """
        lowers = [info.path for info in self.chain(parent)]  # NotFound if the parent is missing
        if diff_id is not None:
            known = chain_id(parent, diff_id)
            with locked(self.root / "locks" / f"{known.encoded}.lock"):
                if self.exists(known):
                    return self.get(known)
                return self._unpack(blob, parent, lowers, media_type, diff_id)
        return self._unpack(blob, parent, lowers, media_type, None)

    def _unpack(
        self,
        blob: _Readable,
        parent: Digest | None,
        lowers: list[Path],
        media_type: str | None,
        diff_id: Digest | None,
    ) -> SnapshotInfo:
        with self._scratch("unpack-") as scratch:
            (scratch / "fs").mkdir(mode=0o755)
            result = layers.apply_layer(
                blob, scratch / "fs", media_type=media_type, overlay=True, lowers=lowers
            )
            if diff_id is not None and result.diff_id != diff_id:
                raise DigestMismatch(f"layer unpacked to diffID {result.diff_id}, expected {diff_id}")
            chain = chain_id(parent, result.diff_id)
            doc = {
                "chainID": str(chain),
                "diffID": str(result.diff_id),
                "parent": str(parent) if parent else None,
            }
            atomic_write(scratch / "info.json", json.dumps(doc).encode())
            with self._global_lock():
                if parent is not None and not self.exists(parent):
                    raise NotFound(f"snapshot {parent} was removed during the unpack")
                if not self.exists(chain):
                    os.rename(scratch, self._dir(chain))
                    fsync_dir(self.root / "snapshots")
        return self.get(chain)

    def remove(self, chain: Digest) -> None:
        """Remove the snapshot ``chain``; refused (``InvalidState``) while another snapshot or a
        container root builds on it."""
        with self._scratch("remove-") as doomed, self._global_lock():
            self.get(chain)
            for info in self.snapshots():
                if info.parent == chain:
                    raise InvalidState(f"snapshot {chain} is the parent of snapshot {info.chain_id}")
            for key in self._active_keys():
                if chain in (s.chain_id for s in self.chain(self._active_parent(key))):
                    raise InvalidState(f"snapshot {chain} is in use by container root {key!r}")
            # Gone from snapshots/ at once; the tree is deleted when the scratch dir is.
            os.rename(self._dir(chain), doomed / "snapshot")

    def cleanup(self) -> None:
        """Remove what crashed processes left in ``tmp/`` (half-done unpacks and removals).

        Every scratch directory is flocked by the process using it, so only abandoned ones go.
        Run by the constructor.
        """
        with self._global_lock():
            for entry in sorted((self.root / "tmp").iterdir()):
                try:
                    fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use by a live process
                finally:
                    os.close(fd)  # (closing drops the lock we may have taken)
                with contextlib.suppress(OSError):
                    remove_path(entry)

    @contextlib.contextmanager
    def _scratch(self, prefix: str) -> Iterator[Path]:
        """A fresh directory in ``tmp/``, flocked while in use and removed afterwards."""
        with self._global_lock():  # no cleanup() between making it and locking it
            import tempfile  # only unpacks need scratch space

            path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root / "tmp"))
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                remove_path(path)  # a no-op once the directory was renamed into place
            os.close(fd)

    # -- container roots --------------------------------------------------------------------

    def prepare(
        self, key: str, parent: Digest | None, idmap: IdMaps | None = None, volatile: bool = False
    ) -> ActiveSnapshot:
        """Make a writable root for ``key`` on top of the snapshot chain ``parent`` and mount it.

        With ``idmap`` the root is for a container in a user namespace with those mappings: its
        layers are seen through idmapped mounts (mount_setattr(2) MOUNT_ATTR_IDMAP), so the files
        of the image's root are the namespace's root's, and its upper directory belongs to the host
        ids of the namespace's root. It needs overlayfs. A ``volatile`` root (for a container
        removed when it exits) is an overlay that never syncs its changes to the disk, not even
        when unmounted, where a plain one syncs the whole filesystem under it (overlayfs.rst,
        "Volatile mount"); where the kernel lacks the option the root is a plain overlay.

        Raises ``AlreadyExists`` if ``key`` is taken, ``NotFound`` if ``parent`` is missing,
        ``Unsupported`` if overlayfs is required (``mode="overlay"``) but cannot be mounted.
        """
        if not _KEY.match(key):
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        base = self.root / "active" / key
        with self._global_lock():
            chain = self.chain(parent)
            try:
                base.mkdir()
            except FileExistsError:
                raise AlreadyExists(f"snapshot key {key!r} already exists") from None
            try:
                active = self._make_root(key, base, parent, chain, idmap, volatile)
            except BaseException:
                with contextlib.suppress(OSError):
                    remove_path(base)
                raise
        return active

    def _make_root(
        self,
        key: str,
        base: Path,
        parent: Digest | None,
        chain: list[SnapshotInfo],
        idmap: IdMaps | None,
        volatile: bool,
    ) -> ActiveSnapshot:
        for sub in ("upper", "work", "rootfs"):
            (base / sub).mkdir(mode=0o755)
        kind = "copy"
        if idmap is not None:
            if self.mode == "copy":
                raise Unsupported(f"a root in a user namespace ({key!r}) needs overlayfs")
            owner = root_owner(idmap)
            for sub in ("upper", "work"):
                os.chown(base / sub, *owner)
        if self.mode != "copy":
            try:
                volatile = self._mount_overlay(base, chain, idmap, volatile)
                kind = "overlay"
            except OSError as err:
                if (
                    idmap is not None
                    or self.mode == "overlay"
                    or err.errno not in (errno.ENODEV, errno.EPERM, errno.EINVAL)
                ):
                    raise Unsupported(f"cannot mount the overlay root for {key!r}: {err.strerror}") from None
        if kind == "copy":
            _flatten([info.path for info in reversed(chain)], base / "rootfs")
        # An overlay root does not outlive a reboot (it is not mounted again), so its record need
        # not wait for the disk; a copied root does.
        doc: dict[str, object] = {"parent": str(parent) if parent else None, "kind": kind, "idmap": idmap}
        if kind == "overlay" and volatile:
            doc["volatile"] = True
        info = json.dumps(doc).encode()
        atomic_write(base / "info.json", info, durable=kind == "copy")
        return self.active(key)

    def _mount_overlay(
        self, base: Path, chain: list[SnapshotInfo], idmap: IdMaps | None = None, volatile: bool = False
    ) -> bool:
        """Mount the overlay root under ``base``; whether it is ``volatile`` (asked, and the kernel
        has the option: 5.10 and later)."""
        if volatile:
            try:
                self._mount_overlay_with(base, chain, idmap, ",volatile")
                return True
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
        self._mount_overlay_with(base, chain, idmap, "")
        return False

    def _mount_overlay_with(
        self, base: Path, chain: list[SnapshotInfo], idmap: IdMaps | None, extra: str
    ) -> None:
        upper = f"upperdir={_escape(base / 'upper')},workdir={_escape(base / 'work')},{_OVERLAY_FIXED}{extra}"
        if not chain:  # overlayfs needs a lower layer: an empty one
            (base / "empty").mkdir(exist_ok=True)
            lowers = [_escape(base / "empty")]
        elif idmap is not None:
            # Layers seen through idmapped mounts, named relative to where they are attached.
            names = _idmapped_layers(base / _IDMAPPED, [info.path for info in chain], idmap)
            _mount.mount_in(
                str(base / _IDMAPPED),
                "overlay",
                str(base / "rootfs"),
                "overlay",
                f"lowerdir={':'.join(names)},{upper}",
            )
            return
        else:
            lowers = [_escape(info.path) for info in chain]
        data = f"lowerdir={':'.join(lowers)},{upper}"
        if len(data) <= _MOUNT_DATA_MAX:
            _mount.mount("overlay", str(base / "rootfs"), "overlay", data)
            return
        # Too long for one page: relative names from snapshots/, merging the lowest layers if needed.
        relative = [f"{info.chain_id.encoded}/fs" for info in chain]
        room = _MOUNT_DATA_MAX - len(upper) - len("lowerdir=,")
        while len(":".join(relative)) > room:
            relative = self._merge_tail(chain, relative)
        _mount.mount_in(
            str(self.root / "snapshots"),
            "overlay",
            str(base / "rootfs"),
            "overlay",
            f"lowerdir={':'.join(relative)},{upper}",
        )

    def _merge_tail(self, chain: list[SnapshotInfo], relative: list[str]) -> list[str]:
        """Replace the lowest half of the lower directories by one merged (flat) directory."""
        keep = len(relative) // 2
        deepest_kept = chain[keep]  # the flat view of this snapshot covers chain[keep:]
        flat = self._flat(deepest_kept.chain_id)
        return [*relative[:keep], f"{deepest_kept.chain_id.encoded}/{flat.name}"]

    def merged(self, top: Digest) -> Path:
        """The whole tree of the chain ``top``, never to be written: the base layer's own directory
        for a one-layer chain, else the layers merged into one (made once, kept with ``top``)."""
        chain = self.chain(top)
        return chain[0].path if len(chain) == 1 else self._flat(top)

    def _flat(self, chain: Digest) -> Path:
        """The merged tree of the chain up to ``chain`` (made once, then reused)."""
        flat = self._dir(chain) / "flat"
        with locked(self.root / "locks" / f"{chain.encoded}.flat.lock"):
            if not flat.exists():
                import tempfile

                scratch = Path(tempfile.mkdtemp(prefix="flat-", dir=self._dir(chain)))
                try:
                    os.chmod(scratch, 0o755)
                    _flatten([info.path for info in reversed(self.chain(chain))], scratch)
                    os.rename(scratch, flat)
                except BaseException:
                    with contextlib.suppress(OSError):
                        remove_path(scratch)
                    raise
        return flat

    def active(self, key: str) -> ActiveSnapshot:
        """The container root ``key``; ``NotFound`` if there is none."""
        base = self.root / "active" / key
        try:
            doc = json.loads((base / "info.json").read_text())
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"snapshot key {key!r} not found") from None
        parent = doc.get("parent")
        return ActiveSnapshot(
            key=key,
            parent=Digest.parse(parent) if parent else None,
            rootfs=base / "rootfs",
            upper=base / "upper" if doc["kind"] == "overlay" else None,
            kind=doc["kind"],
            idmap=_idmaps(doc.get("idmap")),
            volatile=bool(doc.get("volatile")),
        )

    def mount(self, key: str) -> ActiveSnapshot:
        """Mount the container root ``key`` again if it is not mounted (after a reboot, say);
        a no-op for a mounted or copied root."""
        active = self.active(key)
        if active.kind == "overlay" and not os.path.ismount(active.rootfs):
            with self._global_lock():
                chain = self.chain(active.parent)
                base = self.root / "active" / key
                remove_path(base / "work")  # overlayfs wants an empty work directory
                (base / "work").mkdir(mode=0o755)
                if active.idmap is not None:
                    os.chown(base / "work", *root_owner(active.idmap))
                    _release_idmapped_layers(base / _IDMAPPED)
                self._mount_overlay(base, chain, active.idmap, active.volatile)
        return active

    def release(self, key: str) -> None:
        """Unmount and remove the container root ``key`` (its changes are lost); also one whose
        ``prepare`` was killed before it recorded the root (mounted, maybe, with no info.json)."""
        base = self.root / "active" / key
        try:
            overlay = self.active(key).kind == "overlay"
        except NotFound:
            if not base.is_dir():
                raise
            overlay = True  # unrecorded: unmount whatever prepare had mounted
        if overlay:
            try:
                _mount.umount(str(base / "rootfs"))
            except OSError as err:
                if err.errno == errno.EBUSY:
                    raise InvalidState(f"container root {key!r} is busy: {err.strerror}") from None
                # EINVAL: not mounted (a crash before or after the mount); ENOENT: not made yet
                if err.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
        _release_idmapped_layers(base / _IDMAPPED)
        remove_path(base)

    def diff(
        self,
        key: str,
        out: Writable,
        compression: Compression | None = None,
        *,
        mtime_clamp: int | None = None,
    ) -> PackResult:
        """Write the container root ``key``'s changes as a layer blob (for commit), compressed with
        ``compression`` (gzip when not given)."""
        active = self.active(key)
        if active.upper is not None:
            changes = layers.overlay_changes(active.upper)
        else:  # copy mode: compare with the merged parent chain (an empty upper dir for no parent)
            lower = self._flat(active.parent) if active.parent else self.root / "active" / key / "upper"
            changes = layers.diff_trees(lower, active.rootfs)
        gzip = layers.Compression.GZIP
        return layers.write_layer(changes, out, compression or gzip, mtime_clamp=mtime_clamp)

    def changes(self, key: str) -> Iterator[tuple[str, str]]:
        """What the container root ``key`` changed, as ``podman diff`` reports it: ``("A", path)``
        for an added entry, ``("C", path)`` for a changed one (a directory whose contents changed
        included), ``("D", path)`` for a deleted one; paths absolute, parents first."""
        active = self.active(key)
        if active.upper is not None:
            lowers = [info.path for info in self.chain(active.parent)]
            entries = layers.overlay_changes(active.upper)

            def existed(rel: str) -> bool:
                return _in_lowers(lowers, rel)
        else:  # copy mode: compare with the merged parent chain (an empty upper dir for no parent)
            lower = self._flat(active.parent) if active.parent else self.root / "active" / key / "upper"
            entries = layers.diff_trees(lower, active.rootfs)

            def existed(rel: str) -> bool:
                return os.path.lexists(lower / rel)

        for change in entries:
            if change.kind is layers.ChangeKind.ADD:
                yield ("C" if existed(change.path) else "A", "/" + change.path)
            elif change.kind is layers.ChangeKind.WHITEOUT:
                yield ("D", "/" + change.path)
            # An opaque marker's directory comes with its own ADD entry.

    # -- helpers ----------------------------------------------------------------------------

    def _active_keys(self) -> Iterator[str]:
        for entry in sorted((self.root / "active").iterdir()):
            if (entry / "info.json").exists():
                yield entry.name

    def _active_parent(self, key: str) -> Digest | None:
        return self.active(key).parent

    @contextlib.contextmanager
    def _global_lock(self) -> Iterator[None]:
        with locked(self.root / "locks" / "snapshots.lock"):
            yield


#: Where a root in a user namespace has its layers attached, idmapped (one directory per layer).
_IDMAPPED = "idmapped"


def _idmaps(value: object) -> IdMaps | None:
    """``IdMaps`` from its JSON form (lists), or None."""
    if not isinstance(value, list):
        return None
    uids, gids = value
    return tuple(tuple(m) for m in uids), tuple(tuple(m) for m in gids)


def root_owner(idmap: IdMaps) -> tuple[int, int]:
    """The host uid and gid of the user namespace's root."""
    owner = []
    for maps in idmap:
        host = next((h + (0 - c) for c, h, n in maps if c <= 0 < c + n), None)
        if host is None:
            raise InvalidArgument("a root in a user namespace needs container id 0 mapped")
        owner.append(host)
    return owner[0], owner[1]


def _idmapped_layers(where: Path, layers_top_down: list[Path], idmap: IdMaps) -> list[str]:
    """Attach each layer, idmapped through a user namespace with ``idmap``, at ``where/<n>``
    (open_tree(2), mount_setattr(2), move_mount(2)); their names, top first."""
    from berth.runtime.linux import syscalls
    from berth.runtime.linux.idmap import userns_with
    from berth.spec.runtime_config import IDMapping

    sc = syscalls.Syscalls()
    uids, gids = ([IDMapping(container_id=c, host_id=h, size=n) for c, h, n in maps] for maps in idmap)
    userns = userns_with(sc, tuple(uids), tuple(gids))
    where.mkdir(exist_ok=True)
    names = []
    try:
        for n, layer in enumerate(layers_top_down):
            (where / str(n)).mkdir(exist_ok=True)
            fd = sc.open_tree_clone(str(layer), recursive=False)
            try:
                sc.mount_setattr_idmap(fd, userns, recursive=False)
                sc.move_mount(fd, str(where / str(n)))
            finally:
                os.close(fd)
            names.append(str(n))
    except BaseException:
        _release_idmapped_layers(where)
        raise
    finally:
        os.close(userns)
    return names


def _release_idmapped_layers(where: Path) -> None:
    """Detach the idmapped layers attached under ``where`` (none: nothing to do)."""
    if not where.is_dir():
        return
    for entry in where.iterdir():
        with contextlib.suppress(OSError):  # not mounted (a crash between mkdir and attach)
            _mount.umount(str(entry), _mount.MNT_DETACH)


def _flatten(layers_bottom_up: list[Path], dest: Path) -> None:
    """``flatten``, imported only by the rare mount that needs it (it pulls in the layer code)."""
    from berth.image.snapshots.flatten import flatten

    flatten(layers_bottom_up, dest)


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    """Whether ``rel`` exists in the merged view of the overlay lower layers (``lowers`` top first):
    the topmost layer holding it decides, and a 0/0 character device there is a whiteout."""
    for layer in lowers:
        try:
            st = os.lstat(layer / rel)
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            return False  # a parent was replaced by a non-directory in this layer
        return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
    return False
