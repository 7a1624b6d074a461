"""Errors raised while reading, applying or writing image layers."""

from __future__ import annotations

from berth.errors import BerthError


class InvalidLayer(BerthError):
    """A layer blob is malformed: bad compression stream, bad tar header, truncated data."""


class UnsafeLayerEntry(InvalidLayer):
    """A layer entry would create or modify something outside the root it is applied to.

    Raised for names with ``..`` or a leading ``/``, for parents reached through a symlink that
    climbs above the root, and for hard links whose target lies outside the root.
    """
