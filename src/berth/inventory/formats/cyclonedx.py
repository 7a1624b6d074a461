"""CycloneDX 1.6 JSON (cyclonedx.org/docs/1.6/json): the image is the metadata's component, each
package found a component with its purl, CPE, licences and the layer that added it."""

from __future__ import annotations

import uuid
from typing import Any

from berth.inventory.formats import created_utc, tool_version
from berth.inventory.licenses import single_id
from berth.inventory.model import Inventory, Package

#: uuid5 namespace of the serial numbers: a document's serial follows from the image's digest.
_SERIAL_NAMESPACE = uuid.UUID("6f1c2b5e-3d4a-5b8c-9e0f-1a2b3c4d5e6f")


def _licenses(package: Package) -> list[dict[str, Any]]:
    # 1.6 licenseChoice: license objects with an SPDX id (the schema's enumeration) or a name.
    out = []
    for name in package.licenses:
        identifier = single_id(name)
        out.append({"license": {"id": identifier} if identifier else {"name": name}})
    return out


def _component(package: Package, ref: str) -> dict[str, Any]:
    properties = [
        {"name": "berth:layer", "value": package.layer},
        {"name": "berth:path", "value": "/" + package.path},
    ]
    if package.source_name:
        properties.append(
            {"name": "berth:source-package", "value": f"{package.source_name} {package.source_version}"}
        )
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": ref,
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
        "cpe": package.cpe,
        "properties": properties,
    }
    if package.licenses:
        component["licenses"] = _licenses(package)
    return component


def document(inventory: Inventory) -> dict[str, Any]:
    """The CycloneDX 1.6 BOM of ``inventory``, as JSON-ready data."""
    components = []
    seen: set[str] = set()
    for package in inventory.packages:
        ref = package.purl if package.purl not in seen else f"{package.purl}#/{package.path}"
        seen.add(ref)
        components.append(_component(package, ref))
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, inventory.digest)}",
        "version": 1,
        "metadata": {
            "timestamp": created_utc(inventory),
            "tools": {"components": [{"type": "application", "name": "berth", "version": tool_version()}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": inventory.name,
                "version": inventory.digest,
            },
        },
        "components": components,
    }
