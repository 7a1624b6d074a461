"""Garbage collection of the registry's storage, safe while pushes run.

Mark: every blob a manifest of any repository names (the manifest itself, its config and layers),
every blob a repository linked less than ``grace`` seconds ago, and every blob younger than
``grace`` (an upload that finished just now, whose manifest is not pushed yet). Sweep: delete the
rest, re-checking each blob's age just before deleting it, because a manifest push refreshes the
age of every blob it names. Uploads in flight live outside the blob store and are never swept;
uploads older than ``upload_max_age`` are abandoned and removed. Layer links whose blob is gone are
removed so that HEAD answers 404.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from berth.distribution.storage.driver import PathNotFound
from berth.distribution.storage.layout import RegistryStore, blob_data_path, repository_path
from berth.errors import InvalidArgument
from berth.spec.digest import Digest


@dataclass
class GcReport:
    """What a collection found and did."""

    marked: int = 0
    deleted_blobs: list[str] = field(default_factory=list)
    deleted_uploads: list[str] = field(default_factory=list)
    deleted_links: list[str] = field(default_factory=list)
    freed_bytes: int = 0


def _referenced(content: bytes) -> list[Digest]:
    """Digests a manifest or index names (config, layers, child manifests); none if unreadable."""
    try:
        doc = json.loads(content)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    descriptors = [doc.get("config"), *(doc.get("layers") or []), *(doc.get("manifests") or [])]
    found = []
    for descriptor in descriptors:
        if isinstance(descriptor, dict):
            try:
                found.append(Digest.parse(descriptor.get("digest", "")))
            except InvalidArgument:
                continue
    return found


async def _mtime(store: RegistryStore, path: str) -> float | None:
    try:
        return (await store.driver.stat(path)).mtime
    except PathNotFound:
        return None


async def clean_uploads(store: RegistryStore, max_age: float, report: GcReport | None = None) -> GcReport:
    """Remove uploads started more than ``max_age`` seconds ago."""
    report = report or GcReport()
    cutoff = time.time() - max_age
    for name in await store.list_repositories_with_uploads():
        base = f"{repository_path(name)}/_uploads"
        for upload_id in await store.driver.list(base):
            started = await _mtime(store, f"{base}/{upload_id}/startedat")
            if started is None or started < cutoff:
                try:
                    await store.driver.delete(f"{base}/{upload_id}")
                except PathNotFound:
                    continue
                report.deleted_uploads.append(f"{name}/{upload_id}")
    return report


async def collect_garbage(
    store: RegistryStore, grace: float, upload_max_age: float, dry_run: bool = False
) -> GcReport:
    """Mark and sweep the blob store; see the module docstring for what is kept."""
    report = GcReport()
    cutoff = time.time() - grace
    marked: set[Digest] = set()
    repositories = await store.list_repositories()
    for name in repositories:
        for digest in await store.list_revisions(name):
            marked.add(digest)
            try:
                marked.update(_referenced(await store.driver.get_content(blob_data_path(digest))))
            except PathNotFound:
                continue
        for digest in await store.list_layer_links(name):
            link = f"{repository_path(name)}/_layers/{digest.algorithm}/{digest.encoded}/link"
            linked_at = await _mtime(store, link)
            if linked_at is not None and linked_at >= cutoff:
                marked.add(digest)
    report.marked = len(marked)
    for digest in await _all_blobs(store):
        if digest in marked:
            continue
        info = None
        try:
            info = await store.driver.stat(blob_data_path(digest))
        except PathNotFound:
            continue
        if info.mtime >= cutoff:
            continue
        if not dry_run:
            try:
                await store.driver.delete(blob_data_path(digest).rsplit("/", 1)[0])
            except PathNotFound:
                continue
        report.deleted_blobs.append(str(digest))
        report.freed_bytes += info.size
    if not dry_run:
        deleted = set(report.deleted_blobs)
        for name in repositories:
            for digest in await store.list_layer_links(name):
                if str(digest) in deleted:
                    await store.unlink_blob(name, digest)
                    report.deleted_links.append(f"{name}@{digest}")
        await clean_uploads(store, upload_max_age, report)
    return report


async def _all_blobs(store: RegistryStore) -> list[Digest]:
    found: list[Digest] = []
    try:
        algorithms = await store.driver.list("/blobs")
    except PathNotFound:
        return found
    for algorithm in algorithms:
        for prefix in await store.driver.list(f"/blobs/{algorithm}"):
            for encoded in await store.driver.list(f"/blobs/{algorithm}/{prefix}"):
                found.append(Digest(algorithm, encoded))
    return found
