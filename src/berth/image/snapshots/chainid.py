"""Layer chain IDs (image-spec config.md#layer-chainid): one name for a layer and all below it."""

from __future__ import annotations

from collections.abc import Sequence

from berth.spec.digest import Digest, sha256_hex


def chain_id(parent: Digest | None, diff_id: Digest) -> Digest:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    if parent is None:
        return diff_id
    return Digest("sha256", sha256_hex(f"{parent} {diff_id}".encode()))


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The chain ID of each prefix of ``diff_ids`` (an image config's ``rootfs.diff_ids``)."""
    out: list[Digest] = []
    parent: Digest | None = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        out.append(parent)
    return out
