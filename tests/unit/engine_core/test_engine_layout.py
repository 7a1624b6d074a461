"""The engine's layout (docs/architecture.md#the-engine-inside): its modules import one another in one
direction only, counting imports made inside functions, and each part imports only the parts below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import berth.engine

ENGINE = Path(berth.engine.__file__).parent
#: The parts of the engine, each allowed to import the ones named with it (and the core, always).
PARTS = {
    "images": set(),
    "networks": set(),
    "volumes": set(),
    "containers": {"images", "networks", "volumes"},
    "pods": {"containers", "images", "networks", "volumes"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE).with_suffix("").parts
    return ".".join(("berth.engine", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _imported(path: Path, modules: set[str]) -> set[str]:
    """The engine modules ``path`` imports at run time (inside functions too; not for type checkers)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for top in tree.body
        if isinstance(top, ast.If) and "TYPE_CHECKING" in ast.unparse(top.test)
        for node in ast.walk(top)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found & modules


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ENGINE.rglob("*.py")}
    return {name: _imported(path, set(paths)) - {name} for name, path in paths.items()}


def _part(module: str) -> str:
    """``containers`` for ``berth.engine.containers.start``; ``core`` for a module at the root."""
    rest = module.removeprefix("berth.engine").lstrip(".").split(".")
    return rest[0] if rest[0] in PARTS else "core"


def test_engine_modules_import_each_other_in_one_direction() -> None:
    graph = _graph()
    for module in graph:  # no module reaches itself through the modules it imports
        via: dict[str, str] = {}  # module -> the one that imports it, on the way from ``module``
        todo = [module]
        while todo:
            current = todo.pop()
            for target in graph[current]:
                if target == module:
                    circle = [current]
                    while circle[-1] != module:
                        circle.append(via[circle[-1]])
                    pytest.fail(f"import circle: {' -> '.join(reversed([module, *circle]))}")
                if target not in via:
                    via[target] = current
                    todo.append(target)


def test_each_part_imports_only_the_parts_below_it() -> None:
    for module, imported in _graph().items():
        part = _part(module)
        allowed = {part, "core", *PARTS.get(part, set())}
        if module == "berth.engine.system":  # the engine as a whole: info, df, prune
            allowed |= set(PARTS)
        for target in imported:
            assert _part(target) in allowed, f"{module} ({part}) imports {target}"
