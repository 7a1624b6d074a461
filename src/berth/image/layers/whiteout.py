"""Whiteout names (image-spec layer.md#whiteouts) and their overlayfs equivalents."""

from __future__ import annotations

#: layer.md#whiteouts: ``.wh.<name>`` removes ``<name>`` of a lower layer.
WHITEOUT_PREFIX = ".wh."
#: layer.md#opaque-whiteout: this entry makes its directory opaque (hides all lower children).
OPAQUE_WHITEOUT = ".wh..wh..opq"
#: Names starting with this are AUFS metadata (e.g. ``.wh..wh.plnk``), never files: skipped.
WHITEOUT_META_PREFIX = ".wh..wh."
#: overlayfs: a directory with this xattr set to ``y`` hides the lower directories' children.
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
#: overlayfs: xattrs under this prefix are the filesystem's own bookkeeping, not file metadata.
OVERLAY_XATTR_PREFIX = "trusted.overlay."
