"""Registry storage: a driver interface (object-store shaped), the filesystem driver, the layout of
blobs, links and tags on top of it, uploads, and garbage collection."""

from __future__ import annotations

from berth.distribution.storage.driver import FileInfo, FileWriter, PathNotFound, StorageDriver
from berth.distribution.storage.filesystem import FilesystemDriver
from berth.distribution.storage.gc import GcReport, clean_uploads, collect_garbage
from berth.distribution.storage.layout import RegistryStore, StoredManifest
from berth.distribution.storage.uploads import Uploads

__all__ = [
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "GcReport",
    "PathNotFound",
    "RegistryStore",
    "StorageDriver",
    "StoredManifest",
    "Uploads",
    "clean_uploads",
    "collect_garbage",
]
