"""The ``berth`` program's entry point.

Kept apart from ``berth.cli.main`` so that nothing but this file is imported before the code cache
(``berth.codecache``) is installed: argparse, re, json and the rest of the standard library's
modules a command uses are then served from the cache too, as Berth's own are.
"""

from __future__ import annotations

import os

from berth import use_private_pycache

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import NoReturn

#: Berth's code cache (``berth.codecache``), and its bytecode when the environment forbids writing it
#: next to the sources (``berth.use_private_pycache``).
CACHE_DIR = "/var/cache/berth"
PYCACHE = CACHE_DIR + "/pycache"


def run() -> NoReturn:
    """The ``berth`` program: ``berth.cli.main.main`` with its modules served from the code cache,
    exiting without the interpreter's finalization (``berth.codecache.run_cached``)."""
    use_private_pycache(PYCACHE)
    from berth import codecache

    package_dir = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    codecache.run_cached(CACHE_DIR, package_dir, "berth.cli.main", "main", stdlib=True)
