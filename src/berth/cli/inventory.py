"""Inventory commands.

berth sbom [--format spdx-json|cyclonedx-json] [-o FILE] IMAGE

IMAGE is a name or an image ID, as ``berth image inspect`` takes. The handler reads the image
through ``berth.inventory`` and writes the document to stdout or, atomically, to FILE.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_FORMATS = ("spdx-json", "cyclonedx-json")


def _warn(line: str) -> None:
    print(f"berth: warning: {line}", file=sys.stderr)


def _sbom(args: argparse.Namespace) -> int:
    from berth.engine.config import load_config
    from berth.image.images import ImageStore
    from berth.inventory.formats import render
    from berth.inventory.sbom import inventory

    store = ImageStore(load_config(args.root, args.runroot).root / "images")
    try:
        found = inventory(store, args.image, _warn)
    finally:
        store.close()
    document = render(found, args.format)
    if args.output:
        from berth.fsutil import atomic_write

        atomic_write(args.output, document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    return 0


def register(sub: Any) -> None:
    """Add ``sbom`` to the ``berth`` subcommands."""
    sbom = sub.add_parser("sbom", help="list the packages in an image (SPDX or CycloneDX JSON)")
    sbom.add_argument("--format", choices=_FORMATS, default="spdx-json", help="document format")
    sbom.add_argument("-o", "--output", metavar="FILE", help="write the document to FILE (atomically)")
    sbom.add_argument("image", metavar="IMAGE")
    sbom.set_defaults(handler=_sbom)
