"""``RUN --mount`` made real: each ``Mount`` as the ``-v`` or ``--tmpfs`` spec of the RUN's container
(Dockerfile reference, "RUN --mount"), and undone after the RUN.

- ``bind``: a path of the context, or of a stage's or image's root (``from=``), read-only unless
  ``rw`` (then a copy, so the writes are thrown away);
- ``cache``: a directory kept between builds under ``<root>/build/mounts``, one per ``id``
  (the target by default), made with ``mode``/``uid``/``gid``; ``sharing=locked`` and ``private``
  take a lock on it for the RUN;
- ``tmpfs``: a new tmpfs (``size`` bytes);
- ``secret``: the ``--secret id=...`` file, copied with ``mode`` (0400), ``uid`` and ``gid`` into a
  private temporary directory and bound read-only at ``/run/secrets/ID`` or the target. A mount is
  never part of the layer: its contents are not in the root, and the mount points made for it are
  removed after the RUN.

    with run_mounts(ins.mounts, sources, workdir="/") as made:
        run_in_root(..., mounts=made.volumes, tmpfs=made.tmpfs)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from berth import fsutil
from berth.build.context import BuildContext
from berth.build.copier import resolve_in_root
from berth.build.mounts import Mount
from berth.errors import InvalidArgument, NotFound, Unsupported


@dataclass(frozen=True)
class MountSources:
    """Where the mounts of a build come from."""

    context: BuildContext
    #: The storage root (cache mounts live under ``<root>/build/mounts``).
    root: Path
    #: ``--secret`` id -> its value.
    secrets: Mapping[str, bytes]
    #: A stage's or image's root by name, prepared for a ``with`` block.
    stage_root: Callable[[str], AbstractContextManager[Path]]
    #: Where copies and secrets are written for a RUN (default: the system's temporary directory).
    scratch: Path | None = None


@dataclass
class MadeMounts:
    """The RUN container's ``-v`` and ``--tmpfs`` specs, and the targets they cover."""

    volumes: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)


@contextlib.contextmanager
def run_mounts(
    mounts: Sequence[Mount], sources: MountSources, workdir: str, root: Path, volumes: Sequence[str] = ()
) -> Iterator[MadeMounts]:
    """The specs for ``mounts`` (relative targets are relative to ``workdir``), valid in the block.

    Each of the image's ``volumes`` (made in ``root`` already) is bound as a copy of what it holds,
    so the RUN sees its files but its writes there are thrown away (as buildah 1.28 does).
    """
    made = MadeMounts()
    with contextlib.ExitStack() as stack:
        covered = {posixpath.normpath(posixpath.join(workdir, m.target)) for m in mounts}
        for volume in dict.fromkeys(posixpath.normpath(v) for v in volumes):
            if volume not in covered:
                copy = _throwaway_copy(resolve_in_root(root, volume), stack, sources.scratch)
                made.volumes.append(f"{copy}:{volume}:rw")
        for mount in mounts:
            target = posixpath.normpath(posixpath.join(workdir, mount.target))
            if mount.type == "tmpfs":
                size = f",size={mount.size}" if mount.size else ""
                made.tmpfs.append(f"{target}:rw,nosuid,nodev{size}")
            else:
                host = _HOST_PATHS[mount.type](mount, sources, stack)
                if host is None:
                    continue  # a secret not given and not required
                made.volumes.append(f"{host}:{target}:{'ro' if mount.readonly else 'rw'}")
            made.targets.append(target)
        yield made


def _bind(mount: Mount, sources: MountSources, stack: contextlib.ExitStack) -> Path:
    source = mount.source or "."
    if mount.from_stage:
        path = resolve_in_root(stack.enter_context(sources.stage_root(mount.from_stage)), source)
    else:
        # Confined twice: a clear error for `..`, and symbolic links followed inside the context.
        path = resolve_in_root(sources.context.root, sources.context.confine(source))
    if not os.path.lexists(path):
        raise NotFound(f"--mount source {source}: no such file or directory")
    if mount.readonly:
        return path
    # rw: the RUN may write, but its writes must not reach the context or the stage.
    return _throwaway_copy(path, stack, sources.scratch)


def _throwaway_copy(path: Path, stack: contextlib.ExitStack, scratch_base: Path | None) -> Path:
    """A copy of ``path`` (owners, modes, links and xattrs kept), removed when ``stack`` closes."""
    import subprocess

    scratch = _temporary(stack, "berth-build-copy-", scratch_base)
    copy = scratch / "copy"
    done = subprocess.run(["cp", "-a", "--", str(path), str(copy)], capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidArgument(f"cannot copy {path.name} for the RUN: {done.stderr.strip()}")
    return copy


def _temporary(stack: contextlib.ExitStack, prefix: str, base: Path | None) -> Path:
    """A temporary directory under ``base`` (default: the system's), removed when ``stack`` closes."""
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix, dir=base)))


def _cache(mount: Mount, sources: MountSources, stack: contextlib.ExitStack) -> Path:
    if mount.from_stage:
        raise Unsupported("--mount=type=cache,from=: seeding a cache from a stage is not supported")
    ident = mount.id or mount.target
    base = cache_mounts_dir(sources.root)
    base.mkdir(parents=True, exist_ok=True)
    path = base / hashlib.sha256(ident.encode()).hexdigest()[:32]
    if mount.sharing != "shared":
        stack.enter_context(fsutil.locked(f"{path}.lock"))
    if not path.is_dir():
        scratch = Path(tempfile.mkdtemp(prefix=".new-", dir=base))
        os.chmod(scratch, 0o755 if mount.mode is None else mount.mode)
        os.chown(scratch, mount.uid or 0, mount.gid or 0)
        try:
            scratch.rename(path)
        except OSError:  # another build made it first
            scratch.rmdir()
    return path


def _secret(mount: Mount, sources: MountSources, stack: contextlib.ExitStack) -> Path | None:
    assert mount.id is not None  # parse_mount gives every secret an id
    given = sources.secrets.get(mount.id)
    if given is None:
        if mount.required:
            raise InvalidArgument(f"secret {mount.id!r} is required: give --secret id={mount.id},src=FILE")
        return None
    scratch = _temporary(stack, "berth-build-secret-", sources.scratch)
    copy = scratch / mount.id
    copy.write_bytes(given)
    os.chmod(copy, 0o400 if mount.mode is None else mount.mode)
    os.chown(copy, mount.uid or 0, mount.gid or 0)
    return copy


_HOST_PATHS: dict[str, Callable[[Mount, MountSources, contextlib.ExitStack], Path | None]] = {
    "bind": _bind,
    "cache": _cache,
    "secret": _secret,
}


def cache_mounts_dir(root: Path) -> Path:
    """Where the cache mounts of the storage root ``root`` live."""
    return root / "build" / "mounts"


def parse_secret(text: str) -> tuple[str, bytes]:
    """``--secret id=ID,src=PATH`` (also ``type=file``, or ``type=env,env=NAME`` for a variable's
    value) as the id and the secret; ``InvalidArgument`` naming the problem."""
    options = dict(part.partition("=")[::2] for part in text.split(","))
    ident = options.get("id", "")
    kind = options.get("type", "file")
    unknown = sorted(set(options) - {"id", "src", "source", "type", "env"})
    if not ident or unknown or kind not in ("file", "env"):
        raise InvalidArgument(f"--secret {text!r}: want id=ID,src=PATH (or type=env,env=NAME)")
    if kind == "env":
        name = options.get("env") or ident
        if name not in os.environ:
            raise InvalidArgument(f"--secret {text!r}: no environment variable {name}")
        return ident, os.environ[name].encode()
    src = options.get("src") or options.get("source") or ""
    try:
        return ident, Path(src).read_bytes()
    except OSError as err:
        raise InvalidArgument(f"--secret {text!r}: {src or 'src='}: {err.strerror}") from None
