"""``berth-runtime``: runc's command line over Berth's runtime (filled in by issue 3)."""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point; the runc-compatible commands are under construction."""
    print("berth-runtime: no commands implemented yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
