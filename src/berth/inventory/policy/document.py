"""The input document rules are evaluated over (docs/inventory.md#the-input-document).

``image`` is the image config as stored (image-spec config.md), its names, manifest digest,
history and the files of note; ``sbom`` the packages ``berth sbom`` finds; ``findings`` the scan's
(only when a vulnerability database is given); ``signatures`` the trust verdicts recorded for the
image's manifest digest when it came in; ``container`` (admission only) the container's settings.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from berth.inventory.layerfiles import Noted
from berth.inventory.model import Inventory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.image.images import ResolvedImage


def image_part(
    name: str,
    image: ResolvedImage,
    tags: list[str],
    noted: dict[str, Noted],
) -> dict[str, Any]:
    """``input.image``: ``image`` as it was resolved, ``tags`` its names, ``noted`` the files' facts."""
    config = image.config.to_json()
    diff_ids = [str(d) for d in image.config.diff_ids]
    files = [
        {
            "path": "/" + path,
            "mode": note.mode,
            "layer": diff_ids[note.layer] if note.layer < len(diff_ids) else "",
            "facts": list(note.facts),
        }
        for path, note in sorted(noted.items())
    ]
    return {
        "name": name,
        "id": str(image.manifest.config.digest),
        "digest": str(image.descriptor.digest),
        "tags": tags,
        "config": config,
        "history": config.get("history", []),
        "files": files,
    }


def sbom_part(found: Inventory) -> dict[str, Any]:
    """``input.sbom``: the distribution and every package with the fields ``berth sbom`` knows."""
    distro_id, version_id = found.distro
    return {
        "distro": {"id": distro_id, "version_id": version_id},
        "packages": [{**asdict(p), "licenses": list(p.licenses)} for p in found.packages],
    }
