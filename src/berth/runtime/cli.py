"""Entry point of ``berth-runtime``, kept tiny because it is the one module compiled on every start.

The runtime's other modules come from its code cache (``berth.codecache``) when it is
current. With PYTHONDONTWRITEBYTECODE set (as in some CI and container environments) the modules
imported the usual way would be recompiled on every start, about 75 ms; the runtime keeps a bytecode
cache of its own, outside the source tree, for them instead (``berth.use_private_pycache``). The
commands live in ``berth.runtime.commands``.
"""

from __future__ import annotations

import gc
import os

from berth import use_private_pycache

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import NoReturn

#: The runtime's code cache, and its bytecode when the environment forbids writing it next to the
#: sources.
CACHE_DIR = "/var/cache/berth-runtime"
PYCACHE = CACHE_DIR + "/pycache"


def main() -> NoReturn:
    """Run ``berth-runtime`` with ``sys.argv`` and exit with its status."""
    use_private_pycache(PYCACHE)
    # No cyclic garbage collector: a verb is a short-lived process whose few cycles die with it, and
    # collections during the imports (and in the forked children, whose pages each collection would
    # copy) cost about a millisecond per start. ``events``, the one long-lived verb, turns it back on.
    gc.disable()
    from berth import codecache

    package_dir = os.path.dirname(os.path.dirname(__file__))
    codecache.run_cached(CACHE_DIR, package_dir, "berth.runtime.commands", "main")


if __name__ == "__main__":
    main()
