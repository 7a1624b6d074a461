"""Entry point of the ``berth`` command.

Each command group lives in its own module under ``berth.cli`` and exposes
``register(subparsers)``; modules are found by listing the package, so adding a command group never
edits this file. Handlers import the engine lazily so that ``berth --help`` and fast commands pay
only for what they use.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from berth import __version__
from berth.errors import BerthError

#: podman's exit status for an error of the engine itself (not of the container).
ENGINE_ERROR = 125


def command_modules() -> list[str]:
    """Names of the modules under ``berth.cli`` that add subcommands, sorted."""
    package = importlib.import_module("berth.cli")
    return sorted(
        m.name
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_") and m.name != "main"
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``berth`` argument parser."""
    parser = argparse.ArgumentParser(prog="berth", description="Run OCI containers, daemonless.")
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--root", default=os.environ.get("BERTH_ROOT"), help="storage root")
    parser.add_argument("--runroot", default=os.environ.get("BERTH_RUNROOT"), help="runtime state root")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(handler=lambda _args: print(f"berth {__version__}") or 0)
    for name in command_modules():
        importlib.import_module(f"berth.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``berth`` with ``argv``; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ENGINE_ERROR
    try:
        return int(handler(args) or 0)
    except BerthError as err:
        if args.debug:
            raise
        print(f"berth: {err}", file=sys.stderr)
        return err.exit_code if err.exit_code != 1 else ENGINE_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
