"""The content store: verified, atomically published blobs; leases; garbage collection.

from berth.image.store import ContentStore
store = ContentStore("/var/lib/berth/content")
"""

from berth.image.store.content import ContentStore, Info
from berth.image.store.gc import GCReport, collect
from berth.image.store.ingest import IngestStatus, Writer
from berth.image.store.leases import Lease, Leases
from berth.image.store.transfer import copy_blob, copy_graph

__all__ = [
    "ContentStore",
    "GCReport",
    "Info",
    "IngestStatus",
    "Lease",
    "Leases",
    "Writer",
    "collect",
    "copy_blob",
    "copy_graph",
]
