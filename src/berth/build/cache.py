"""The layer cache: a finished COPY, ADD or RUN found again by a key of what made it.

The key is buildah's: the parent (here the stage's snapshot chain and its config, history and
timestamps aside), the instruction's text, the build ARGs it uses, and for COPY and ADD the digest
of the sources' contents. An entry is a small JSON file under ``<root>/build/cache`` naming the
layer blob; one never-expiring content-store lease keeps those blobs from garbage collection.
An entry is written last, after its layer is stored and protected, so a build killed midway
leaves no entry (at most a protected blob, which ``drop_cache`` releases).

    cache = LayerCache(config.root, images.content)
    key = step_key(state_id(state), "RUN make", {"V": "1"})
    hit = cache.get(key)  # a CachedLayer, or None
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth import fsutil
from berth.errors import InvalidArgument, NotFound
from berth.spec import records
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest

if TYPE_CHECKING:
    from berth.build.state import StageState
    from berth.image.store.content import ContentStore

#: The content-store lease that holds every cached layer's blob.
CACHE_LEASE = "berth-build-cache"


@dataclass(frozen=True, slots=True)
class CachedLayer:
    """What a tree step made: its layer blob, the layer's diffID and the step's history entry."""

    layer: Descriptor
    diff_id: Digest
    created_by: str
    created: str

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer.to_json(),
            "diff_id": str(self.diff_id),
            "created_by": self.created_by,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, obj: Any) -> CachedLayer:
        return cls(
            Descriptor.from_json(obj["layer"], "layer"),
            Digest.parse(obj["diff_id"]),
            str(obj["created_by"]),
            str(obj["created"]),
        )


def cache_dir(root: Path) -> Path:
    """Where the entries of the storage root ``root`` live."""
    return root / "build" / "cache"


class LayerCache:
    """The entries under the storage root ``root``, whose blobs are in ``content``."""

    def __init__(self, root: Path, content: ContentStore) -> None:
        self.dir = cache_dir(root)
        self.content = content

    def get(self, key: str) -> CachedLayer | None:
        """The entry for ``key``, if there is one and its blob is still in the store."""
        try:
            entry = CachedLayer.from_json(json.loads((self.dir / f"{key}.json").read_bytes()))
        except (OSError, ValueError, KeyError, TypeError, InvalidArgument):
            return None  # absent, or unreadable (then rewritten by this build's step)
        return entry if self.content.exists(entry.layer.digest) else None

    def put(self, key: str, entry: CachedLayer) -> None:
        """Protect ``entry``'s blob, then record the entry (atomically, so never half written)."""
        leases = self.content.leases
        with contextlib.suppress(InvalidArgument):  # made already, by this or another build
            leases.create(CACHE_LEASE, expires_in=None)
        leases.add(CACHE_LEASE, "content", str(entry.layer.digest))
        self.dir.mkdir(parents=True, exist_ok=True)
        fsutil.atomic_write(self.dir / f"{key}.json", json.dumps(entry.to_json()).encode(), durable=False)


def drop_cache(root: Path, content: ContentStore) -> int:
    """Forget every entry and release their blobs (the next gc frees them); how many there were."""
    directory = cache_dir(root)
    count = len(list(directory.glob("*.json"))) if directory.is_dir() else 0
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(NotFound):
        content.leases.delete(CACHE_LEASE)
    return count


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def state_id(state: StageState) -> str:
    """The parent a step builds on: the stage's layers (chain ID) and config, less its history and
    timestamps (they differ from build to build while the image does not), and the WORKDIRs the
    step makes first."""
    config = records.replace(state.config, history=(), created="").to_json()
    return _digest({"chain": str(state.chain or ""), "config": config, "workdirs": state.workdirs_to_make})


def step_key(parent: str, text: str, args: Mapping[str, str | None], sources: str = "") -> str:
    """The key of a step: its parent, its instruction's text, the ARGs it uses, its sources' digest."""
    return _digest({"parent": parent, "instruction": text, "args": dict(args), "sources": sources})


def tree_digest(root: Path, paths: Iterable[str]) -> str:
    """A digest of the files ``paths`` (relative to ``root``): each one's name, type, mode, size,
    content and link target. Owners and mtimes are left out, as the Dockerfile cache leaves them."""
    sha = hashlib.sha256()
    for rel in paths:
        path = root / rel
        info = os.lstat(path)
        sha.update(f"{rel}\0{stat.S_IFMT(info.st_mode)}\0{stat.S_IMODE(info.st_mode):o}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            sha.update(os.readlink(path).encode(errors="surrogateescape"))
        elif stat.S_ISREG(info.st_mode):
            sha.update(f"{info.st_size}\0".encode())
            with open(path, "rb") as fh:
                sha.update(hashlib.file_digest(fh, "sha256").digest())
        sha.update(b"\n")
    return sha.hexdigest()
