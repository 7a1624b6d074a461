"""Image layers (image-spec layer.md): read, apply, diff and pack tar changesets.

Apply a layer blob to a directory, computing its digests on the way::

    from berth.image.layers import apply_layer
    with open(blob, "rb") as f:
        result = apply_layer(f, "rootfs", media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    result.diff_id, result.digest

Make a layer from a tree, from two trees, or from an overlayfs upper directory::

    from berth.image.layers import pack_tree, pack_diff, pack_overlay_upper, Compression
    with open("layer.tar.gz", "wb") as out:
        result = pack_diff("lower", "upper", out, Compression.GZIP)

Lower-level pieces: ``LayerReader`` (decompress + digests), ``TarReader``/``TarWriter`` (streaming
tar), ``diff_trees``/``overlay_changes``/``tree_changes`` (changesets) and ``write_layer``.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.image.layers.apply import ApplyResult, LayerWriteError, apply_layer
    from berth.image.layers.changes import Change, ChangeKind, diff_trees, overlay_changes, tree_changes
    from berth.image.layers.compression import Compression, LayerReader, LayerWriter, Writable
    from berth.image.layers.entry import EntryType, TarEntry
    from berth.image.layers.errors import InvalidLayer, UnsafeLayerEntry
    from berth.image.layers.pack import PackResult, pack_diff, pack_overlay_upper, pack_tree, write_layer
    from berth.image.layers.tarreader import TarReader
    from berth.image.layers.tarwriter import TarWriter

#: Where each public name lives. The submodules load on first use (PEP 562 ``__getattr__``): a
#: container start that only mounts unpacked snapshots needs none of them (~10 ms of imports).
_HOMES = {
    "apply": ("ApplyResult", "LayerWriteError", "apply_layer"),
    "changes": ("Change", "ChangeKind", "diff_trees", "overlay_changes", "tree_changes"),
    "compression": ("Compression", "LayerReader", "LayerWriter", "Writable"),
    "entry": ("EntryType", "TarEntry"),
    "errors": ("InvalidLayer", "UnsafeLayerEntry"),
    "pack": ("PackResult", "pack_diff", "pack_overlay_upper", "pack_tree", "write_layer"),
    "tarreader": ("TarReader",),
    "tarwriter": ("TarWriter",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ApplyResult",
    "Change",
    "ChangeKind",
    "Compression",
    "EntryType",
    "InvalidLayer",
    "LayerReader",
    "LayerWriteError",
    "LayerWriter",
    "PackResult",
    "TarEntry",
    "TarReader",
    "TarWriter",
    "UnsafeLayerEntry",
    "Writable",
    "apply_layer",
    "diff_trees",
    "overlay_changes",
    "pack_diff",
    "pack_overlay_upper",
    "pack_tree",
    "tree_changes",
    "write_layer",
]
