"""berth.cli.main.COMMAND_MODULES names the module of every command the modules add."""

from __future__ import annotations

import importlib
from typing import Any

from berth.cli.main import COMMAND_MODULES, build_parser, command_modules


class _Recorder:
    """Stands in for the subparsers action: notes each command (and alias) a module adds."""

    def __init__(self, module: str, found: dict[str, str]) -> None:
        self.module = module
        self.found = found

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        for command in (name, *kwargs.get("aliases", ())):
            self.found[command] = self.module
        return _Absorb()


class _Absorb:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def test_the_table_names_every_commands_module() -> None:
    found: dict[str, str] = {}
    for module in command_modules():
        importlib.import_module(f"berth.cli.{module}").register(_Recorder(module, found))
    assert found == COMMAND_MODULES


def test_a_command_missing_from_the_table_still_parses(monkeypatch: Any) -> None:
    monkeypatch.setattr("berth.cli.main.COMMAND_MODULES", {})
    args = build_parser("ps").parse_args(["ps", "-a"])
    assert args.command == "ps" and args.all
