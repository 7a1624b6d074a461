"""``berth policy check``: an image's input document made in one read of its layers, judged by
rule sets (directories of Rego files, or the built-in ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berth.inventory.policy.rego import Module, load_modules

#: The rule sets Berth ships, by name: ``cis``, the image checks of the CIS Docker Benchmark.
BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTINS = ("cis",)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.image.images import ImageStore, ResolvedImage
    from berth.inventory.scan.match import Index
    from berth.inventory.sources._common import Warn


def rule_sets(directories: list[str], builtins: list[str]) -> list[Module]:
    """The modules of the named built-in rule sets and of each directory (errors name the file)."""
    return load_modules([BUILTIN_DIR / name for name in builtins] + [Path(d) for d in directories])


def image_document(
    store: ImageStore,
    storage_root: Path,
    name: str,
    warn: Warn,
    records: Index | None = None,
    resolved: ResolvedImage | None = None,
) -> dict[str, Any]:
    """The input document of the image ``name`` of ``store`` (``image``, ``sbom``, ``signatures``
    recorded under ``storage_root``, and ``findings`` when ``records`` are given); ``resolved``
    is the image when the caller has already found it."""
    from berth.errors import BerthError
    from berth.image.catalog import find_image
    from berth.inventory.layerfiles import Noted
    from berth.inventory.policy.document import image_part, sbom_part
    from berth.inventory.policy.files import WATCH
    from berth.inventory.sbom import inventory_of
    from berth.trust.admission import recorded_verdicts

    entry, _ = find_image(store, resolved.manifest.config.digest.encoded if resolved else name)
    image = resolved or entry.resolved
    if image is None:
        raise BerthError(f"image {name}: {entry.error}")
    noted: dict[str, Noted] = {}
    found = inventory_of(store, image, name, warn, WATCH, noted)
    document = {
        "image": image_part(name, image, entry.names, noted),
        "sbom": sbom_part(found),
        "signatures": recorded_verdicts(storage_root, found.digest),
    }
    if records is not None:
        from berth.inventory.scan.match import findings
        from berth.inventory.scan.report import finding_json

        document["findings"] = [finding_json(f) for f in findings(found, records, warn)]
    return document
