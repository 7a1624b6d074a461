"""Merge a chain of snapshot directories into one plain tree, as an overlay mount would show it.

Each layer directory (overlay form: 0/0 character-device whiteouts, ``trusted.overlay.opaque``)
is read as a changeset and applied in order onto the destination through a pipe, so the merge
uses exactly the code paths that unpack layers: whiteouts delete, opaque directories hide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from berth.image.layers import Compression, apply_layer, overlay_changes, write_layer


def flatten(layers_bottom_up: Sequence[Path], dest: Path) -> None:
    """Apply each overlay-form layer directory, lowest first, onto the existing directory ``dest``."""
    for layer in layers_bottom_up:
        _copy_layer(layer, dest)


def _copy_layer(layer: Path, dest: Path) -> None:
    rfd, wfd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(wfd, "wb", buffering=1 << 20) as out:
                write_layer(overlay_changes(layer), out, Compression.NONE)
        except BrokenPipeError:
            pass  # the reader failed first; its error is the one to report
        except BaseException as err:
            failure.append(err)

    writer = threading.Thread(target=produce, name="berth-flatten", daemon=True)
    writer.start()
    try:
        with open(rfd, "rb", buffering=0) as blob:
            apply_layer(blob, dest)
    finally:
        writer.join()
    if failure:
        raise failure[0]
