"""Entry point of the ``berth`` command.

Each command group lives in its own module under ``berth.cli`` and exposes
``register(subparsers)``; modules are found by listing the package, so adding a command group never
edits this file. Only the invoked command's parser is really built (argparse spends ~0.1 ms per
argument, tens of milliseconds for all of berth's), and handlers import the engine lazily.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from berth import __version__
from berth.cli._format import HelpFormatter
from berth.errors import BerthError

TYPE_CHECKING = False  # typing costs ~2.5 ms a command; only type checkers need these names
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

#: podman's exit status for an error of the engine itself (not of the container), bad flags included.
ENGINE_ERROR = 125

#: Global options that take a value, so the command name can be found without building parsers.
_GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--root", "--runroot", "--runtime"})


class ArgumentParser(argparse.ArgumentParser):
    """argparse with podman's exit status for usage errors (125, not 2), and Berth's help formatter
    (``berth.cli._format.HelpFormatter``) unless another is asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ENGINE_ERROR, f"{self.prog}: error: {message}\n")


class _Unbuilt:
    """Stands in for the parser of a command that is not being run: every call is absorbed."""

    def __getattr__(self, name: str) -> Any:
        return self._absorb

    def _absorb(self, *args: Any, **kwargs: Any) -> _Unbuilt:
        return self


class _Commands:
    """The top-level subparsers action, building only the parser of ``wanted``.

    Other commands are only noted; if ``wanted`` turns out not to be a command, the caller builds
    everything (``wanted=None``) so argparse can list the valid choices.
    """

    def __init__(self, action: Any, wanted: str | None) -> None:
        self._action = action
        self._wanted = wanted
        self.found = False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self._wanted is not None and self._wanted not in (name, *kwargs.get("aliases", ())):
            return _Unbuilt()
        self.found = True
        return self._action.add_parser(name, **kwargs)


#: Which module adds each command, so a command imports only its own module (importing the other
#: six costs every command ~4 ms). A command missing here still works: all modules are imported
#: then, as for ``--help``; tests/unit/test_cli_commands.py checks this table against them.
_CONTAINER_COMMANDS, _IMAGE_COMMANDS = [
    "run", "create", "start", "attach", "stop", "restart", "kill", "update", "pause", "unpause", "rm", "wait",
    "healthcheck", "rename", "port", "export", "diff", "ps", "inspect", "logs", "exec", "top", "stats", "cp",
], ["images", "image", "history", "tag", "rmi", "import", "save", "load", "commit"]  # fmt: skip
COMMAND_MODULES = {
    **dict.fromkeys(_CONTAINER_COMMANDS, "containers"),
    **dict.fromkeys(_IMAGE_COMMANDS, "images"),
    **dict.fromkeys(["pull", "push", "copy", "login", "logout", "search"], "images_remote"),
    "build": "build",
    "builder": "build",
    "cri": "cri",
    "events": "events",
    "network": "networks",
    "pod": "pods",
    "registry": "registry",
    "sbom": "inventory",
    "scan": "inventory",
    "vulndb": "inventory",
    "policy": "inventory",
    "info": "system",
    "kube": "kube",
    "system": "system",
    "volume": "volumes",
    **dict.fromkeys(["key", "sign", "verify"], "trust"),
}


def command_modules() -> list[str]:
    """Names of the modules under ``berth.cli`` that add subcommands, sorted."""
    # A directory listing, not pkgutil.iter_modules: pkgutil imports inspect (~8 ms a command).
    here = os.path.dirname(__file__)
    names = (entry[:-3] for entry in os.listdir(here) if entry.endswith(".py"))
    return sorted(name for name in names if not name.startswith("_") and name not in ("main", "launch"))


def invoked_command(argv: Sequence[str]) -> str | None:
    """The command name in ``argv`` (the first word after the global options), if any."""
    args = iter(argv)
    for arg in args:
        if arg in _GLOBAL_OPTIONS_WITH_VALUE:
            next(args, None)
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(wanted: str | None = None) -> ArgumentParser:
    """The ``berth`` argument parser; with ``wanted``, only that command's parser is built."""
    parser = ArgumentParser(prog="berth", description="Run OCI containers, daemonless.")
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--root", default=os.environ.get("BERTH_ROOT"), help="storage root")
    parser.add_argument("--runroot", default=os.environ.get("BERTH_RUNROOT"), help="runtime state root")
    parser.add_argument(
        "--runtime",
        dest="global_runtime",
        metavar="RUNTIME",
        help="OCI runtime for containers (name or path; as BERTH_RUNTIME)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = _Commands(sub, wanted)
    commands.add_parser("version", help="print the version").set_defaults(
        handler=lambda _args: print(f"berth {__version__}") or 0
    )
    home = COMMAND_MODULES.get(wanted) if wanted is not None else None
    for name in [home] if home is not None else command_modules():
        importlib.import_module(f"berth.cli.{name}").register(commands)
    if wanted is not None and not commands.found:
        return build_parser(None)  # not a command: let argparse list the real ones
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``berth`` with ``argv``; return the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(invoked_command(argv))
    args = parser.parse_args(argv)
    if args.global_runtime:
        os.environ["BERTH_RUNTIME"] = args.global_runtime  # the engine's config reads it
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
    except BrokenPipeError:  # e.g. `berth ps | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    from berth.cli.launch import run

    run()
