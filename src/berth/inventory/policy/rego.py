"""Rule sets written in Rego, evaluated by regopy (Microsoft's rego-cpp).

A rule set is a directory of ``*.rego`` files (searched recursively). Each package that defines
``deny`` is a group of rules: ``deny`` is a set of messages, written ``deny contains msg if {...}``
(Rego v1) or ``deny[msg] {...}`` (v0, which rego-cpp reads as an object keyed by the messages).
A message is a string ``"RULE: text"`` (the rule is the word before the first colon) or an object
``{"rule": RULE, "msg": TEXT}``; a string without such a word is named after its package.

regopy is imported here only, so only ``berth policy`` and admission with configured rule sets
load the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument

_PACKAGE = re.compile(rb"^[ \t]*package[ \t]+([A-Za-z_][\w.]*)", re.MULTILINE)
_RULE_PREFIX = re.compile(r"^([\w.\-/]+):\s*(.*)$", re.DOTALL)
# rego-cpp's errors are S-expressions with length-prefixed strings:
# (error 8:bad.rego|37|2 (errormsg 27:Invalid assignment operator) ...)
_ERROR_AT = re.compile(r"\(error (\d+):")
_ERROR_MSG = re.compile(r"\(errormsg (\d+):")


class RegoError(InvalidArgument):
    """A rule set that does not compile or fails to evaluate: one line naming the file."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the Rego package it is in, the rule's name and its message."""

    package: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The violation as JSON output shows it."""
        return {"package": self.package, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class Module:
    """One Rego file: its path (shown in errors), text and package name."""

    path: str
    text: str
    package: str


def load_modules(directories: Iterable[Path]) -> list[Module]:
    """The ``*.rego`` files under each directory, in a stable order; a missing directory, an
    empty one or a file without a ``package`` line is an error naming it."""
    modules = []
    for directory in directories:
        if not directory.is_dir():
            raise InvalidArgument(f"policy {directory}: not a directory")
        files = sorted(p for p in directory.rglob("*.rego") if p.is_file())
        if not files:
            raise InvalidArgument(f"policy {directory}: no .rego files")
        for path in files:
            modules.append(module(str(path), path.read_bytes()))
    return modules


def module(path: str, data: bytes) -> Module:
    """A Rego file read from ``data``; the path is only shown in errors."""
    found = _PACKAGE.search(data)
    if found is None:
        raise RegoError(f"{path}: no package declaration")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise RegoError(f"{path}: not UTF-8 text") from None
    return Module(path, text, found.group(1).decode())


def evaluate(modules: list[Module], document: Mapping[str, Any]) -> list[Violation]:
    """Every message of every package's ``deny`` for the input ``document``, sorted."""
    import regopy

    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE  # errors come back to us; rego-cpp prints them otherwise
    by_path = {m.path: m for m in modules}
    files = ", ".join(by_path)
    try:
        for mod in modules:
            interpreter.add_module(mod.path, mod.text)
        interpreter.set_input_term(json.dumps(document))
        violations = []
        for package in dict.fromkeys(m.package for m in modules):
            files = ", ".join(m.path for m in modules if m.package == package)
            result = _query(interpreter, f"data.{package}.deny")
            violations.extend(_violations(package, result))
    except regopy.RegoError as err:  # compile errors surface at the first query
        raise RegoError(_error_line(str(err), by_path, files)) from None
    return sorted(set(violations), key=lambda v: (v.package, v.rule, v.message))


def _query(interpreter: Any, query: str) -> Any:
    """The value of ``query``, or None when it is undefined. regopy's ``Output`` raises a bare
    JSON error when evaluation fails (an unknown function), so the answer's text is read here."""
    from regopy.rego_shared import rego_free_output, rego_output_string, rego_query

    output = rego_query(interpreter._impl, query)
    try:
        text = rego_output_string(output)
    finally:
        rego_free_output(output)
    if text == "undefined":
        return None
    if text.startswith("(error"):
        import regopy

        raise regopy.RegoError(text)
    try:
        return json.loads(text)["expressions"][0]
    except (ValueError, KeyError, IndexError):
        raise RegoError(f"{query}: rego-cpp gave an answer that is not JSON: {text[:80]!r}") from None


def _violations(package: str, value: Any) -> list[Violation]:
    if value is None:
        return []
    if isinstance(value, dict):  # v0's deny[msg] { ... }: the messages are the keys
        value = list(value)
    if not isinstance(value, list):
        raise RegoError(f"data.{package}.deny: not a set of messages")
    return [_violation(package, item) for item in value]


def _violation(package: str, message: Any) -> Violation:
    if isinstance(message, dict):
        text = message.get("msg", message.get("message", ""))
        rule = message.get("rule") or package.rpartition(".")[2]
        return Violation(package, str(rule), text if isinstance(text, str) else json.dumps(text))
    if not isinstance(message, str):
        message = json.dumps(message)
    named = _RULE_PREFIX.match(message)
    if named is not None:
        return Violation(package, named.group(1), named.group(2))
    return Violation(package, package.rpartition(".")[2], message)


def _length_prefixed(text: str, start: re.Match[str]) -> str:
    begin = start.end()
    return text[begin : begin + int(start.group(1))]


def _error_line(text: str, modules: Mapping[str, Module], files: str) -> str:
    """rego-cpp's error as ``FILE:LINE:COL: message``, or ``FILES: message`` naming the files of
    the package being evaluated when rego-cpp gives no place."""
    msg = _ERROR_MSG.search(text)
    message = _length_prefixed(text, msg) if msg else text.strip().splitlines()[0]
    at = _ERROR_AT.search(text)
    if at is None:
        return f"{files}: {message}"
    name = _length_prefixed(text, at)
    offset = text[at.end() + len(name) :].split("|")
    mod = modules.get(name)
    if mod is None or len(offset) < 2 or not offset[1].isdigit():
        return f"{name}: {message}"
    before = mod.text.encode()[: int(offset[1])].decode(errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"{name}:{line}:{column}: {message}"
