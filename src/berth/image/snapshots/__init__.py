"""Snapshots: layers unpacked once, keyed by chain ID; container roots as overlays of them.

See ``snapshotter`` for the on-disk layout, locking and the overlay mount rules.
"""

from berth.image.snapshots.chainid import chain_id, chain_ids
from berth.image.snapshots.snapshotter import ActiveSnapshot, SnapshotInfo, Snapshotter

__all__ = ["ActiveSnapshot", "SnapshotInfo", "Snapshotter", "chain_id", "chain_ids"]
