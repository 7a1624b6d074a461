"""npm packages: the ``package.json`` at the top of each package directory under a
``node_modules`` directory (``node_modules/NAME/`` or ``node_modules/@SCOPE/NAME/``)."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from berth.inventory.model import Package
from berth.inventory.sources._common import (
    ImageFiles,
    RecordError,
    Warn,
    added_in,
    namespaced_package,
    readable,
    text,
)

_MANIFEST = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@.][^/]*/package\.json$")


def wants(path: str) -> bool:
    """The manifests of installed packages (not the ones deeper inside a package)."""
    return path.endswith("/package.json") and _MANIFEST.search(path) is not None


def _manifest(path: str, data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(text(data, path))
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(value, dict):
        raise RecordError(f"{path}: not a JSON object")
    if not isinstance(value.get("name"), str) or not isinstance(value.get("version"), str):
        raise RecordError(f"{path}: no name or version string")
    return value


def licenses(manifest: dict[str, Any]) -> tuple[str, ...]:
    """package.json's ``license`` (an SPDX expression), or the older ``{"type": ...}`` forms."""
    declared = manifest.get("license", manifest.get("licenses"))
    items = declared if isinstance(declared, list) else [declared]
    names = [item.get("type") if isinstance(item, dict) else item for item in items]
    return tuple(sorted({n for n in names if isinstance(n, str) and n}))


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The installed npm packages; a manifest that cannot be read is skipped with a warning."""
    found = []
    for path, kept, manifest in readable(image, wants, _manifest, warn):
        layer = image.layers[added_in(kept, partial(_manifest, path))]
        found.append(
            namespaced_package("npm", manifest["name"], manifest["version"], layer, path, licenses(manifest))
        )
    return found
