"""The content store: verified, atomically published blobs; leases; garbage collection.

from berth.image.store import ContentStore
store = ContentStore("/var/lib/berth/content")

Garbage collection and copying between stores load on first use (PEP 562's module ``__getattr__``):
``berth run`` opens the store on every start and needs neither (about 1 ms of imports).
"""

from berth.image.store.content import ContentStore, Info
from berth.image.store.ingest import IngestStatus, Writer
from berth.image.store.leases import Lease, Leases

TYPE_CHECKING = False  # type checkers see True and the names below
if TYPE_CHECKING:
    from berth.image.store.gc import GCReport, collect
    from berth.image.store.transfer import copy_blob, copy_graph

_LAZY = {"GCReport": "gc", "collect": "gc", "copy_blob": "transfer", "copy_graph": "transfer"}

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


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
