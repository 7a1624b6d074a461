"""SBOM documents of an inventory: ``render(inventory, format)`` gives the JSON bytes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from berth.inventory.model import Inventory

#: The ``--format`` names, each with the module that writes it.
FORMATS = {"spdx-json": "spdx", "cyclonedx-json": "cyclonedx"}


def render(inventory: Inventory, fmt: str) -> bytes:
    """The document of ``inventory`` in ``fmt`` (a key of ``FORMATS``), as deterministic JSON."""
    import importlib

    module = importlib.import_module(f"berth.inventory.formats.{FORMATS[fmt]}")
    document: dict[str, Any] = module.document(inventory)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def created_utc(inventory: Inventory) -> str:
    """The image's creation time as ``YYYY-MM-DDThh:mm:ssZ`` (the Unix epoch when it has none),
    so a document depends on the image only, never on when it was made."""
    import time

    from berth.image.catalog import timestamp

    seconds = timestamp(inventory.created) if inventory.created else None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds or 0)))


def tool_version() -> str:
    """Berth's version, for the documents' tool fields."""
    from berth import __version__

    return __version__
